import Foundation

extension BatchReport {
    /// The spec's standing in the Control Site's register during the batch. A batch whose spec
    /// was not released (a site with `require_release: false`) reads `not released`, and the
    /// Control Site holds it nonconforming.
    public struct SpecRelease: Codable, Sendable, Hashable {
        /// `released` or `not released` when the batch started.
        public var state: String
        /// Why, in the site's words: who released it and when, or its state (unknown, retired,
        /// released for another equipment model, no register received).
        public var detail: String
        /// The register version and hash the site held at the start.
        public var registerVersion: Int64?
        public var registerHash: String?
        /// Whether the site required release at the start.
        public var releaseRequired: Bool
        /// Set when the Control Site retired the spec while the batch ran: the batch finished under it.
        public var retiredDuringBatch: Retirement?
        public init(state: String, detail: String, registerVersion: Int64?, registerHash: String?, releaseRequired: Bool) {
            self.state = state
            self.detail = detail
            self.registerVersion = registerVersion
            self.registerHash = registerHash
            self.releaseRequired = releaseRequired
        }
    }

    public struct Retirement: Codable, Sendable, Hashable {
        /// When the site received the register that retired it, and the retirement as the register records it.
        public var received: String
        public var retiredAt: String?
        public var retiredBy: String?
        public var reason: String?
        public var registerVersion: Int64
        public init(received: String, retiredAt: String?, retiredBy: String?, reason: String?, registerVersion: Int64) {
            self.received = received
            self.retiredAt = retiredAt
            self.retiredBy = retiredBy
            self.reason = reason
            self.registerVersion = registerVersion
        }
    }
}
