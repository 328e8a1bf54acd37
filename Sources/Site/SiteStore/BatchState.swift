import Foundation

/// A batch that is running, as the store holds it so that a restart takes it up again exactly
/// as it was: device, batch, the spec it is held to (by fingerprint), phase, who started it
/// and why.
public struct RunningBatch: Sendable, Hashable {
    public var device: String
    public var batch: String
    /// The spec's fingerprint; its text is in the store's spec table.
    public var spec: String
    public var phase: String
    public var followDevicePhase: Bool
    public var started: Date
    public var startedBy: String?
    public var reason: String?

    public init(
        device: String, batch: String, spec: String, phase: String, followDevicePhase: Bool, started: Date, startedBy: String?,
        reason: String?
    ) {
        self.device = device
        self.batch = batch
        self.spec = spec
        self.phase = phase
        self.followDevicePhase = followDevicePhase
        self.started = started
        self.startedBy = startedBy
        self.reason = reason
    }
}

/// A shelved alarm, kept until it expires, is unshelved, or its batch ends.
public struct ShelfRecord: Sendable, Hashable {
    public var alarm: String
    public var device: String
    public var batch: String?
    public var until: Date
    public var user: String
    public var reason: String

    public init(alarm: String, device: String, batch: String?, until: Date, user: String, reason: String) {
        self.alarm = alarm
        self.device = device
        self.batch = batch
        self.until = until
        self.user = user
        self.reason = reason
    }
}

/// A spec as every batch that ran under it needs it later: reports and a resumed batch read it
/// from here, never from files loaded now.
public struct StoredSpec: Sendable, Hashable {
    public var fingerprint: String
    public var document: String
    public var version: String
    /// The canonical form the fingerprint hashes.
    public var canonical: String
    /// The file's text as it was read.
    public var source: String

    public init(fingerprint: String, document: String, version: String, canonical: String, source: String) {
        self.fingerprint = fingerprint
        self.document = document
        self.version = version
        self.canonical = canonical
        self.source = source
    }
}

/// How an event changes what the store holds of running batches and shelves. It travels with
/// the event and is written in the same transaction, so the state and the record never part.
public enum BatchStateChange: Sendable, Hashable {
    /// A batch started or was resumed (with its spec, stored once per fingerprint).
    case started(RunningBatch, spec: StoredSpec?)
    case phase(device: String, phase: String)
    case ended(device: String, batch: String, at: Date, by: String?, reason: String?)
    case shelved(ShelfRecord)
    case unshelved(alarm: String)
    /// An alarm (`device/parameter/kind`) or a whole device taken out of service, and back.
    case outOfService(OutOfServiceRecord)
    case inService(target: String)
    /// A latched alarm, standing until an operator resets it (or its batch ends).
    case latched(alarm: String, device: String, since: Date)
    case unlatched(alarm: String)
    /// A running batch stops (or starts) following the phase its device reports.
    case followDevicePhase(device: String, follows: Bool)
    /// A version of a Control Site register, received and accepted; every version is kept.
    case register(StoredRegister)
}

/// A version of a register the Control Site published (released specs, ...), as the site
/// accepted it: its canonical form, the hash of that form, and who released it.
public struct StoredRegister: Sendable, Hashable {
    public var kind: String
    public var version: Int64
    /// `sha256:` and the hex SHA-256 of `canonical`.
    public var hash: String
    public var signerName: String
    public var signerUser: String
    public var signedAt: String
    public var meaning: String
    public var canonical: String
    public var received: Date

    public init(
        kind: String, version: Int64, hash: String, signerName: String, signerUser: String, signedAt: String, meaning: String,
        canonical: String, received: Date
    ) {
        self.kind = kind
        self.version = version
        self.hash = hash
        self.signerName = signerName
        self.signerUser = signerUser
        self.signedAt = signedAt
        self.meaning = meaning
        self.canonical = canonical
        self.received = received
    }
}

/// An alarm or device out of service for maintenance: kept until it is returned, across restarts.
public struct OutOfServiceRecord: Sendable, Hashable {
    /// `device/parameter/kind`, `device/communication`, or a device id.
    public var target: String
    public var device: String
    public var since: Date
    public var user: String
    public var reason: String

    public init(target: String, device: String, since: Date, user: String, reason: String) {
        self.target = target
        self.device = device
        self.since = since
        self.user = user
        self.reason = reason
    }
}
