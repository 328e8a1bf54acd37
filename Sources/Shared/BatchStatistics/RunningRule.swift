import POCareCore

extension BatchStatistics {
    /// The spec's running signal, read from a sample's value. A value not read well, or of a kind
    /// the rule does not name, counts as running: the signal can only take time out of monitoring
    /// when it says so.
    public struct RunningRule: Sendable, Hashable {
        public var signal: RunningSignal?
        public init(_ signal: RunningSignal?) { self.signal = signal }

        public func isRunning(_ value: Observed?) -> Bool {
            guard let signal, let value else { return true }
            if signal.labels.isEmpty {
                switch value {
                case .flag(let on): return on
                case .number(let n): return n != 0
                case .label: return true
                }
            }
            guard case .label(let label) = value else { return true }
            return signal.labels.contains(label)
        }
    }
}
