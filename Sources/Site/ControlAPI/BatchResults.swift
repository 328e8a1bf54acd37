import Foundation

// What the batch commands answer.

/// A device's batch after a batch command.
public struct BatchState: Codable, Sendable, Hashable {
    public var device: String
    public var batch: String?
    public var phase: String?
    public var spec: String?
    public var user: String
    /// What the command undid of earlier actions, or what it means for them (shelves the end of
    /// a batch lifted, a spec started without release).
    public var notes: [String]?
    public init(device: String, batch: String?, phase: String?, spec: String?, user: String, notes: [String]? = nil) {
        self.device = device
        self.batch = batch
        self.phase = phase
        self.spec = spec
        self.user = user
        self.notes = notes
    }
}

public struct BatchList: Codable, Sendable, Hashable {
    public struct Batch: Codable, Sendable, Hashable {
        public var device: String
        public var batch: String
        public var spec: String
        public var started: String
        public var ended: String?
        public init(device: String, batch: String, spec: String, started: String, ended: String?) {
            self.device = device
            self.batch = batch
            self.spec = spec
            self.started = started
            self.ended = ended
        }
    }
    public var batches: [Batch]
    public init(batches: [Batch]) { self.batches = batches }
}
