import POCareCore

/// What a device is making now: the batch, the approved spec it is held to, and the phase.
public struct BatchContext: Sendable, Hashable {
    public enum PhaseSource: Sendable, Hashable {
        /// Set by an operator through the engine's API.
        case manual
        /// Follows the label of an enumerated profile parameter (usually `phase`).
        case device(parameterId: String)
    }

    public var batchId: String
    public var spec: IPCSpec
    public var phase: String
    public var phaseSource: PhaseSource

    public init(batchId: String, spec: IPCSpec, phase: String, phaseSource: PhaseSource) {
        self.batchId = batchId
        self.spec = spec
        self.phase = phase
        self.phaseSource = phaseSource
    }
}
