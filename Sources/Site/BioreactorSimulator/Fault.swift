import POCareCore

/// Something going wrong on a simulated device, for a window of simulator time.
public struct Fault: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The parameter reads `value` for the whole window.
        case excursion(parameter: String, value: Double)
        /// The parameter jumps to `value` briefly (the window is usually one poll long).
        case spike(parameter: String, value: Double)
        /// The parameter reads the model's value plus `delta` (noise and drift included) for the
        /// window: a probe or controller calibrated off, the kind of site difference a
        /// comparability review must find.
        case offset(parameter: String, delta: Double)
        /// The parameter keeps the value it had when the window opened.
        case stuck(parameter: String)
        /// Every connection is closed and new ones are refused.
        case connectionDrop
        /// Every reply is held back by `delay`.
        case slowResponse(delay: Duration)
        /// Every read (or only reads touching `parameter`) is answered with a Modbus exception.
        case exception(code: Int, parameter: String?)
        /// A flag (`bool` or `bitN`) reads `value` for the window, then returns to the model's.
        case flag(parameter: String, value: Bool)
        /// An enumerated status reads the code of `label` (or the code itself, when it is a
        /// whole number) for the window: a controller reporting `fault`, a paused rocker.
        case status(parameter: String, label: String)
    }

    /// Device id the fault applies to, or `*` for every device.
    public var device: String
    public var kind: Kind
    /// Window in simulator time (since the simulator started).
    public var from: Duration
    public var to: Duration

    public init(device: String, kind: Kind, from: Duration, to: Duration) {
        self.device = device
        self.kind = kind
        self.from = from
        self.to = to
    }

    public func applies(to deviceId: String) -> Bool { device == "*" || device == deviceId }

    public func isActive(at time: Duration) -> Bool { time >= from && time < to }

    public var parameter: String? {
        switch kind {
        case .excursion(let p, _), .spike(let p, _), .offset(let p, _), .stuck(let p), .flag(let p, _), .status(let p, _): p
        case .exception(_, let p): p
        default: nil
        }
    }
}
