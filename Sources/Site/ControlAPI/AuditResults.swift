import Foundation

// What `verify` and the audit commands answer.

public struct VerificationReport: Codable, Sendable, Hashable {
    public struct Stream: Codable, Sendable, Hashable {
        public var stream: String
        public var records: Int
        /// The last pruned record, where the walk started.
        public var anchorSeq: Int64
        public var problems: [String]
        public init(stream: String, records: Int, anchorSeq: Int64, problems: [String]) {
            self.stream = stream
            self.records = records
            self.anchorSeq = anchorSeq
            self.problems = problems
        }
    }
    public var intact: Bool
    public var streams: [Stream]
    public var integrityCheck: String
    public init(intact: Bool, streams: [Stream], integrityCheck: String) {
        self.intact = intact
        self.streams = streams
        self.integrityCheck = integrityCheck
    }
}

public struct AuditVerificationReport: Codable, Sendable, Hashable {
    public var intact: Bool
    public var entries: Int
    public var lastHash: String
    /// The first entry changed, removed or inserted, and any further problems.
    public var problems: [String]
    /// SQLite's `PRAGMA integrity_check`: `ok` or what is wrong with the file.
    public var integrityCheck: String
    public init(intact: Bool, entries: Int, lastHash: String, problems: [String], integrityCheck: String) {
        self.intact = intact
        self.entries = entries
        self.lastHash = lastHash
        self.problems = problems
        self.integrityCheck = integrityCheck
    }
}

public struct AuditEntryList: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var seq: Int64
        public var time: String
        public var user: String
        public var action: String
        public var target: String
        public var reason: String?
        public var oldValue: String?
        public var newValue: String?
        public var hash: String
        public var previousHash: String
        public init(seq: Int64, time: String, user: String, action: String, target: String, reason: String?, oldValue: String?,
                    newValue: String?, hash: String, previousHash: String) {
            self.seq = seq
            self.time = time
            self.user = user
            self.action = action
            self.target = target
            self.reason = reason
            self.oldValue = oldValue
            self.newValue = newValue
            self.hash = hash
            self.previousHash = previousHash
        }
    }
    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }
}
