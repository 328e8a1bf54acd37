/// A stream's samples by number, as the minute rollups of one transaction take them. A stream's
/// fresh messages mostly follow one another, so their samples are kept as one run of consecutive
/// numbers in an array. Anything else (the stream's stored tail, neighbours read back, a message
/// out of order) is kept beside it by number. Each sample is looked up several times (to roll it
/// up, for the intervals on both sides, for what to read back): a dictionary hashed every time.
struct KnownSamples {
    /// The number of `run[0]`.
    private var first: Int64 = 0
    private var run: [RolledSample] = []
    private var others: [Int64: RolledSample] = [:]

    subscript(seq: Int64) -> RolledSample? {
        // Numbers are below 2^62 (`ContractMessage.isSiteSequence`, and their neighbours): the difference cannot overflow.
        let offset = seq &- first
        if offset >= 0 && offset < Int64(run.count) { return run[Int(offset)] }
        return others.isEmpty ? nil : others[seq]
    }

    func contains(_ seq: Int64) -> Bool { timeMs(seq) != nil }

    /// The time of the sample kept as `seq`, read in place.
    func timeMs(_ seq: Int64) -> Int64? {
        let offset = seq &- first
        if offset >= 0 && offset < Int64(run.count) { return run[Int(offset)].timeMs }
        return others.isEmpty ? nil : others[seq]?.timeMs
    }

    /// Lends the sample kept as `seq` to `body`, if one is; whether one was. Lent, not copied:
    /// a copy counts references to its lists and strings, and rolling up looks at each sample
    /// three times.
    @discardableResult
    func lend(_ seq: Int64, to body: (borrowing RolledSample) -> Void) -> Bool {
        let offset = seq &- first
        if offset >= 0 && offset < Int64(run.count) {
            run.withUnsafeBufferPointer { body($0[Int(offset)]) }
            return true
        }
        guard !others.isEmpty, let index = others.index(forKey: seq) else { return false }
        body(others[index].value)
        return true
    }

    /// Keeps `sample` as number `seq`, in place of one kept before. A number kept aside and later
    /// reached by the run is read from the run: the later of the two.
    mutating func keep(_ sample: RolledSample, at seq: Int64) {
        guard !run.isEmpty else {
            first = seq
            run.append(sample)
            return
        }
        let offset = seq &- first
        if offset >= 0 && offset < Int64(run.count) {
            run[Int(offset)] = sample
        } else if offset == Int64(run.count) {
            run.append(sample)
        } else {
            others[seq] = sample
        }
    }
}
