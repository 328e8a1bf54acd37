/// The Control Site side of the contract: per stream, which sequence numbers have arrived,
/// which arrivals are duplicates to drop, and which numbers are missing.
public struct SequenceTracker: Sendable {
    public enum Observation: Sendable, Equatable {
        /// Every number in the message is new.
        case new
        /// Every number was seen before: drop the message.
        case duplicate
        /// Some numbers were seen before, some are new (a re-batched resend).
        case partlyNew
    }

    struct StreamState {
        var first: Int64
        var highest: Int64
        /// Ranges below `highest` that have not arrived, in order.
        var missing: [ClosedRange<Int64>] = []
        var duplicates = 0
        var messages = 0
    }

    private var streams: [String: StreamState] = [:]

    public init() {}

    /// Records a message carrying `first...last` of `stream`. Numbers skipped over become
    /// missing until they arrive; the first message of a stream sets where it starts.
    public mutating func observe(stream: String, first: Int64, last: Int64) -> Observation {
        // Numbers a site store cannot have assigned (a store counts from 1 and would need
        // centuries to reach 2^62) come from a broken or hostile sender; taking them would
        // overflow the range arithmetic below. They are ignored like a duplicate.
        guard first >= 1, first <= last, last < 1 << 62 else { return .duplicate }
        guard var state = streams[stream] else {
            streams[stream] = StreamState(first: first, highest: last, messages: 1)
            return .new
        }
        state.messages += 1
        var newCount: Int64 = 0
        if last > state.highest {
            let freshStart = max(first, state.highest + 1)
            if freshStart > state.highest + 1 { state.missing.append((state.highest + 1)...(freshStart - 1)) }
            newCount += last - freshStart + 1
        }
        // Numbers before the first one seen are new (a resend that arrived late); the space
        // between them and the old start becomes missing.
        if first < state.first {
            let lowEnd = min(last, state.first - 1)
            newCount += lowEnd - first + 1
            if lowEnd < state.first - 1 { state.missing.insert((lowEnd + 1)...(state.first - 1), at: 0) }
        }
        // Numbers between the old start and the old highest are new only if they were missing.
        let oldStart = state.first
        if last >= oldStart && max(first, oldStart) <= state.highest {
            let oldPart = max(first, oldStart)...min(last, state.highest)
            var stillMissing: [ClosedRange<Int64>] = []
            for gap in state.missing {
                guard gap.overlaps(oldPart) else {
                    stillMissing.append(gap)
                    continue
                }
                newCount += min(gap.upperBound, oldPart.upperBound) - max(gap.lowerBound, oldPart.lowerBound) + 1
                if gap.lowerBound < oldPart.lowerBound { stillMissing.append(gap.lowerBound...(oldPart.lowerBound - 1)) }
                if gap.upperBound > oldPart.upperBound { stillMissing.append((oldPart.upperBound + 1)...gap.upperBound) }
            }
            state.missing = stillMissing
        }
        state.first = min(state.first, first)
        state.highest = max(state.highest, last)
        state.missing.sort { $0.lowerBound < $1.lowerBound }
        let observation: Observation = newCount == 0 ? .duplicate : newCount == last - first + 1 ? .new : .partlyNew
        if observation == .duplicate { state.duplicates += 1 }
        streams[stream] = state
        return observation
    }

    public struct Summary: Sendable, Equatable {
        public var stream: String
        public var first: Int64
        public var highest: Int64
        public var missing: [ClosedRange<Int64>]
        public var duplicates: Int
        public var messages: Int
    }

    public var summaries: [Summary] {
        streams.map { Summary(stream: $0.key, first: $0.value.first, highest: $0.value.highest, missing: $0.value.missing,
                              duplicates: $0.value.duplicates, messages: $0.value.messages) }
            .sorted { $0.stream < $1.stream }
    }

    public func missing(in stream: String) -> [ClosedRange<Int64>] { streams[stream]?.missing ?? [] }

    /// Forgets the streams whose key starts with `prefix` (a site's streams after its store was
    /// replaced: their numbers start again). What was missing is kept under `prefix` with the
    /// old epoch, so the summary still shows it.
    public mutating func restart(streamsWithPrefix prefix: String, formerEpoch: String) {
        for key in streams.keys where key.hasPrefix(prefix) {
            streams["\(key)@\(formerEpoch)"] = streams.removeValue(forKey: key)
        }
    }
}
