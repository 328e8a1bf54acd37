import POCareContract

/// The minute rollups (`sample_minutes`) kept in the transaction that stores the samples. Which
/// numbers are new is known from the stream's progress as it was locked: each new sample is
/// counted, and each interval between two consecutive numbers is added once both are stored.
/// Fresh samples are taken from memory; samples stored by the staged path (replays into gaps,
/// resends) and the stored neighbours of new runs are read back by number.
extension IngestWriter {
    /// The last fresh sample of each stream this writer stored, by number: the usual predecessor
    /// of the next message, so a live stream costs no read back. Taken only once committed.
    struct RollupTail {
        var seq: Int64
        var sample: RolledSample
        /// Its chain hash: the next record must name it as its predecessor for the tail to stand
        /// for the stored record (QA may have replaced that record since, resolving a dispute).
        var hash: String?
    }

    func rollUp(_ records: [RecordMessage], fresh: [RecordMessage], before: [StreamKey: StreamProgress]) throws -> [StreamKey: RollupTail] {
        var arrived: [StreamKey: [ClosedRange<Int64>]] = [:]
        for message in records where message.kind == .sample { arrived[message.streamKey, default: []].append(message.seqFirst...message.seqLast) }
        guard !arrived.isEmpty else { return [:] }
        var inMemory: [StreamKey: KnownSamples] = [:]
        // Per stream, the predecessor each fresh message's first sample names, and each last sample's own hash.
        var namedPredecessor: [StreamKey: [Int64: String?]] = [:], hashes: [StreamKey: [Int64: String?]] = [:]
        for message in fresh where message.kind == .sample {
            if let first = message.samples.first { namedPredecessor[message.streamKey, default: [:]][first.seq] = .some(first.previousHash) }
            if let last = message.samples.last { hashes[message.streamKey, default: [:]][last.seq] = .some(last.hash) }
            var previous: RolledSample?
            // Taken out for the message, so the stream's key is hashed once a message, not once a sample.
            let key = message.streamKey
            var stream = inMemory.removeValue(forKey: key) ?? KnownSamples()
            for sample in message.samples {
                guard let timeMs = siteTimeMilliseconds(sample.time) else { continue }  // fresh samples have the site's form
                let rolled = RolledSample(timeMs: timeMs, fresh: sample, previous: previous)
                stream.keep(rolled, at: sample.seq)
                previous = rolled
            }
            inMemory[key] = stream
        }
        var rollups = MinuteRollups()
        var tails: [StreamKey: RollupTail] = [:]
        for (key, runs) in arrived.sorted(by: { $0.key < $1.key }) {
            let old = before[key] ?? StreamProgress()
            let new = Self.newNumbers(runs.mergedRuns(), before: old)
            guard !new.isEmpty else { continue }
            // Moved out, not copied: the tail added below would otherwise copy every sample of the stream.
            var known = inMemory.removeValue(forKey: key) ?? KnownSamples()
            if let tail = rollupTails[key], let named = namedPredecessor[key]?[tail.seq + 1], named == tail.hash { known.keep(tail.sample, at: tail.seq) }
            // What is needed and not in memory: new numbers stored by the staged path, and the
            // stored neighbours of each new run.
            var wanted: [ClosedRange<Int64>] = []
            for run in new {
                var missing: Int64?
                // Strides, not the ranges themselves: iterating a closed range goes through its index type at every step.
                for seq in stride(from: run.lowerBound, through: run.upperBound, by: 1) {
                    if !known.contains(seq) { missing = missing ?? seq } else if let from = missing { wanted.append(from...(seq - 1)); missing = nil }
                }
                if let from = missing { wanted.append(from...run.upperBound) }
                for neighbour in [run.lowerBound - 1, run.upperBound + 1] where old.has(neighbour) && !known.contains(neighbour) {
                    wanted.append(neighbour...neighbour)
                }
            }
            for range in wanted { try readBack(key, range, into: &known) }
            for run in new {
                for seq in stride(from: run.lowerBound, through: run.upperBound, by: 1) {
                    known.lend(seq) { rollups.add(sample: $0, of: key) }
                }
                // Intervals whose second number is new: within the run, and from the stored
                // predecessor; and the last new one to its stored successor.
                let first = old.has(run.lowerBound - 1) ? run.lowerBound - 1 : run.lowerBound
                for seq in stride(from: first, to: run.upperBound, by: 1) {
                    if let next = known.timeMs(seq + 1) { known.lend(seq) { rollups.add(interval: $0, until: next, of: key) } }
                }
                if old.has(run.upperBound + 1), let next = known.timeMs(run.upperBound + 1) {
                    known.lend(run.upperBound) { rollups.add(interval: $0, until: next, of: key) }
                }
            }
            // A fresh message's last sample: the stored record of its number once this commits.
            if let last = new.last, let sample = known[last.upperBound], let hash = hashes[key]?[last.upperBound] {
                tails[key] = RollupTail(seq: last.upperBound, sample: sample, hash: hash)
            }
        }
        guard !rollups.isEmpty else { return tails }
        try rollups.mergeStored(on: connection)
        try connection.copy("COPY minute_delta (\(MinuteRollups.columns)) FROM STDIN", data: rollups.copyRows().bytes)
        try connection.execute(MinuteRollups.upsert)
        return tails
    }

    /// The numbers of `runs` that had not arrived before, as runs in order.
    static func newNumbers(_ runs: [ClosedRange<Int64>], before old: StreamProgress) -> [ClosedRange<Int64>] {
        var new: [ClosedRange<Int64>] = []
        func append(_ range: ClosedRange<Int64>) {
            if let last = new.last, last.upperBound + 1 >= range.lowerBound {
                new[new.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                new.append(range)
            }
        }
        for run in runs {
            for gap in old.gaps where gap.range.overlaps(run) {
                append(max(gap.range.lowerBound, run.lowerBound)...min(gap.range.upperBound, run.upperBound))
            }
            if run.upperBound > old.highest { append(max(run.lowerBound, old.highest + 1)...run.upperBound) }
        }
        return new
    }

    private func readBack(_ key: StreamKey, _ range: ClosedRange<Int64>, into known: inout KnownSamples) throws {
        let rows = try connection.execute("""
            SELECT DISTINCT ON (seq) seq, round(extract(epoch FROM time) * 1000)::bigint AS time_ms, batch, phase,
                   "values"::text AS values_text, quality::text AS quality_text
            FROM stream_samples($1, $2, $3, $4::bigint, $5::bigint)
            ORDER BY seq, time
            """, [key.site, key.epoch, key.stream, String(range.lowerBound), String(range.upperBound)])
        let seqColumn = rows.column("seq"), timeColumn = rows.column("time_ms"), batchColumn = rows.column("batch")
        let phaseColumn = rows.column("phase"), valuesColumn = rows.column("values_text"), qualityColumn = rows.column("quality_text")
        for r in 0..<rows.rowCount {
            guard let seq = rows.int(r, seqColumn), let timeMs = rows.int(r, timeColumn), let values = rows.bytes(r, valuesColumn) else { continue }
            known.keep(RolledSample(timeMs: timeMs, batch: rows.string(r, batchColumn), phase: rows.string(r, phaseColumn),
                                    values: values, quality: rows.bytes(r, qualityColumn)), at: seq)
        }
    }
}

extension StreamProgress {
    /// Whether record `seq` had arrived.
    func has(_ seq: Int64) -> Bool {
        seq >= 1 && seq <= highest && !gaps.contains { $0.range.contains(seq) }
    }
}
