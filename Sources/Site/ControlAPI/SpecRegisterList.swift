import Foundation

/// A version of a Control Site register as the site holds it: which version, its hash, who
/// released it, and when the site received it.
public struct RegisterVersion: Codable, Sendable, Hashable {
    public var kind: String
    public var version: Int64
    public var hash: String
    public var signedBy: String
    public var signedByUser: String
    public var signedAt: String
    public var meaning: String
    public var received: String
    public init(
        kind: String, version: Int64, hash: String, signedBy: String, signedByUser: String, signedAt: String, meaning: String,
        received: String
    ) {
        self.kind = kind
        self.version = version
        self.hash = hash
        self.signedBy = signedBy
        self.signedByUser = signedByUser
        self.signedAt = signedAt
        self.meaning = meaning
        self.received = received
    }
}

/// `pocarectl specs`: the register of released specs the site enforces.
public struct SpecRegisterList: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var fingerprint: String
        /// `released` or `retired`.
        public var state: String
        public var document: String
        public var documentVersion: String
        /// The equipment models (device profiles) it is released for.
        public var profiles: [String]
        public var releasedBy: String
        public var releasedAt: String
        public var retiredBy: String?
        public var retiredAt: String?
        public var reason: String
        /// Devices of this site whose batch runs under it now.
        public var runningOn: [String]
        public init(
            fingerprint: String, state: String, document: String, documentVersion: String, profiles: [String], releasedBy: String,
            releasedAt: String, retiredBy: String?, retiredAt: String?, reason: String, runningOn: [String]
        ) {
            self.fingerprint = fingerprint
            self.state = state
            self.document = document
            self.documentVersion = documentVersion
            self.profiles = profiles
            self.releasedBy = releasedBy
            self.releasedAt = releasedAt
            self.retiredBy = retiredBy
            self.retiredAt = retiredAt
            self.reason = reason
            self.runningOn = runningOn
        }
    }

    /// Nil when the site has never received the register.
    public var register: RegisterVersion?
    public var requireRelease: Bool
    public var entries: [Entry]
    public init(register: RegisterVersion?, requireRelease: Bool, entries: [Entry]) {
        self.register = register
        self.requireRelease = requireRelease
        self.entries = entries
    }
}

/// The batch a device's entry in the site configuration names, and what became of it: a
/// configured batch starts only where the device runs no batch and its id was never used.
public struct ConfiguredBatchStatus: Codable, Sendable, Hashable {
    /// `running`, `waiting for a released spec`, `waiting for the device's first poll`,
    /// `not started: the device runs another batch`, `not started: the batch id was used before`.
    public var batch: String
    public var state: String
    public var detail: String?
    public init(batch: String, state: String, detail: String? = nil) {
        self.batch = batch
        self.state = state
        self.detail = detail
    }
}
