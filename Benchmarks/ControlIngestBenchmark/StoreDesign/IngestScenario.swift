import POCareContract
import ControlSiteRecords
import Foundation
import SiteStore

/// What arrives, in what order: a backlog (devices interleaved, as a site drains them) with some
/// messages withheld and delivered after the rest (as replays fill gaps), a resend of the first
/// messages with a few altered copies, then live records one per message.
struct IngestScenario {
    var perMessage: Int
    var batchMessages: Int
    var withhold: Int
    var resend: Int
    var conflicts: Int
    var liveBatch: Int
    var compactEvery: Int

    func run(_ ingest: DesignIngest, backlog: [SampleColumns], live: [SampleColumns], into result: inout DesignResult) throws {
        var messages: [DesignMessage] = []
        let longest = backlog.map(\.count).max() ?? 0
        for first in stride(from: 0, to: longest, by: perMessage) {
            for c in backlog where first < c.count { messages.append(DesignMessage(columns: c, range: first..<min(first + perMessage, c.count))) }
        }
        var rng = SplitMix64(seed: 7)
        var onTime: [DesignMessage] = [], late: [DesignMessage] = []
        for m in messages { if Int(rng.next() % 100) < withhold { late.append(m) } else { onTime.append(m) } }

        result.backlog = try write(onTime, ingest, batch: batchMessages, outcome: &result.outcome)
        result.replay = try write(late, ingest, batch: batchMessages, outcome: &result.outcome)

        // The resend: the first messages again, some altered the way a replaced store or a forger
        // with the chain would: one value changed and every hash from there recomputed.
        var expected = 0
        let step = max(1, min(resend, messages.count) / max(conflicts, 1))
        let copies = messages.prefix(resend).enumerated().map { index, m -> DesignMessage in
            guard conflicts > 0, index % step == 0, index / step < conflicts else { return m }
            let altered = SampleColumns(stream: m.columns.stream, seqFirst: m.columns.seq(m.range.lowerBound),
                                        previousOfFirst: Array(m.columns.previousHash(m.range.lowerBound)))
            var hasher = RecordChain.Hasher()
            let changed = m.range.count / 2
            for (k, i) in m.range.enumerated() {
                var values = (0..<designParameters.count).map { m.columns.value(i, $0) ?? .nan }
                if k == changed { values[0] += 0.25 }
                let parameters = designParameters.count
                altered.append(timeNs: m.columns.timeNs[i], cycle: m.columns.cycle[i], values: values,
                               quality: Array(m.columns.quality[(i * parameters)..<((i + 1) * parameters)]), hasher: &hasher)
            }
            expected += m.range.count - changed
            return DesignMessage(columns: altered, range: 0..<altered.count)
        }
        result.expectedConflicts = expected
        result.resend = try write(copies, ingest, batch: batchMessages, outcome: &result.outcome)

        // Live: every device's next record, one message each, a small transaction at a time.
        var liveMessages: [DesignMessage] = []
        for i in 0..<(live.map(\.count).max() ?? 0) {
            for c in live where i < c.count { liveMessages.append(DesignMessage(columns: c, range: i..<(i + 1))) }
        }
        let meter = try CPUMeter(ingest.connection)
        var transactions = 0
        for start in stride(from: 0, to: liveMessages.count, by: liveBatch) {
            result.outcome = result.outcome + (try ingest.write(Array(liveMessages[start..<min(start + liveBatch, liveMessages.count)])))
            transactions += 1
            if transactions % compactEvery == 0, ingest.candidate != .rows { _ = try ingest.compact() }
        }
        if ingest.candidate != .rows { _ = try ingest.compact() }
        result.live = meter.read(samples: liveMessages.count)
        result.ingestSamples = backlog.reduce(0) { $0 + $1.count } + live.reduce(0) { $0 + $1.count }
    }

    private func write(_ messages: [DesignMessage], _ ingest: DesignIngest, batch: Int, outcome: inout DesignIngest.Outcome) throws -> Rate {
        let meter = try CPUMeter(ingest.connection)
        for start in stride(from: 0, to: messages.count, by: batch) {
            outcome = outcome + (try ingest.write(Array(messages[start..<min(start + batch, messages.count)])))
        }
        return meter.read(samples: messages.reduce(0) { $0 + $1.range.count })
    }
}

/// After ingest: every record there once, every chain verifying, the rollups the same as if
/// computed from all records in order; then the reads, timed.
enum DesignChecks {
    static func run(_ connection: PostgresConnection, candidate: DesignCandidate, backlog: [SampleColumns], live: [SampleColumns],
                    streams: [DesignStream], repeats: Int, into result: inout DesignResult) throws {
        let expected = result.ingestSamples
        let held = candidate == .rows
            ? try connection.execute("SELECT count(*) FROM sample_rows").int(0, 0) ?? 0
            : (try connection.execute("SELECT coalesce(sum(n), 0) FROM sample_chunks").int(0, 0) ?? 0)
                + (try connection.execute("SELECT count(*) FROM sample_staging").int(0, 0) ?? 0)
        result.checks.append("records held \(held) of \(expected)" + (held == expected ? ": all, once" : ": DIFFERENT"))
        let gaps = try connection.execute("SELECT count(*) FROM stream_gaps").int(0, 0) ?? 0
        result.checks.append("open gaps after the replays: \(gaps)")
        if candidate != .rows {
            let r = try connection.execute("""
                SELECT count(*) AS chunks, count(DISTINCT (stream_id, first_ns / \(DesignSchema.nanosecondsPerMinute))) AS minutes,
                       (SELECT count(*) FROM sample_staging) AS staged FROM sample_chunks
                """)
            result.checks.append(String(format: "%lld chunks over %lld stream-minutes (%.2f per minute), %lld records still staged (minute open)",
                                        r.int(0, "chunks")!, r.int(0, "minutes")!,
                                        Double(r.int(0, "chunks")!) / Double(max(1, r.int(0, "minutes")!)), r.int(0, "staged")!))
        }
        var reads = try DesignReads(connection: connection, candidate: candidate, streams: streams)
        let meter = try CPUMeter(connection)
        var verified = 0, records = 0, breaks = 0
        for s in streams {
            let v = try reads.verifyStream(s)
            records += v.records
            verified += v.verified
            breaks += v.breaks
        }
        let rate = meter.read(samples: records)
        let staged = candidate == .rows ? 0 : Int(try connection.execute("SELECT count(*) FROM sample_staging").int(0, 0) ?? 0)
        result.checks.append("every chain recomputed from what is stored: \(verified) of \(records) records verify, \(breaks) broken links "
                             + "(+\(staged) staged, kept with their hashes); \(rate.text)")
        try checkRollups(connection, backlog: backlog, live: live, into: &result)

        let stream = streams[0]
        let minutes = Int32(backlog[0].timeNs[0] / DesignSchema.nanosecondsPerMinute)...Int32(backlog[0].timeNs.last! / DesignSchema.nanosecondsPerMinute)
        result.reads.append(("one stream's per-minute rollups, \(minutes.count) minutes, parsed", try Timing.measure(repeats) {
            _ = try reads.batchRollups(stream, minutes: minutes)
        }))
        result.reads.append(("the same, reduced to 1,000 points per parameter in SQL", try Timing.measure(repeats) {
            _ = try reads.batchRollupsBucketed(stream, minutes: minutes, buckets: 1000)
        }))
        let middle = backlog[0].timeNs[backlog[0].count / 2]
        result.reads.append(("raw window of one hour, decoded", try Timing.measure(repeats) {
            _ = try reads.rawWindow(stream, fromNs: middle, toNs: middle + 3_600_000_000_000)
        }))
        var rng = SplitMix64(seed: 11)
        var failed = 0
        result.reads.append(("one record by number, its hash recomputed", try Timing.measure(repeats * 5) {
            if try !reads.record(streams[Int(rng.next() % UInt64(streams.count))], seq: Int64(1 + rng.next() % UInt64(backlog[0].count))) {
                failed += 1
            }
        }))
        result.checks.append("records retrieved by number that did not verify: \(failed)")
        result.reads.append(("newest record of each of \(streams.count) streams (sites page)", try Timing.measure(repeats) {
            _ = try reads.latest(streams)
        }))
        result.reads.append(("compare: time-weighted mean and SD of every stream from rollups", try Timing.measure(repeats) {
            _ = try reads.compareFromRollups()
        }))
    }

    /// The stored rollups against rollups computed from all records in sequence order.
    static func checkRollups(_ connection: PostgresConnection, backlog: [SampleColumns], live: [SampleColumns], into result: inout DesignResult) throws {
        var reference = RollupAccumulator()
        for (b, l) in zip(backlog, live) {
            reference.add(b, 0..<b.count)
            reference.add(l, 0..<l.count)
            if b.count > 0, l.count > 0 { reference.add(interval: b.point(b.count - 1), until: l.timeNs[0]) }
        }
        var expected: [Int32: (samples: Double, wsum: Double, held: Double)] = [:]
        for (key, cell) in reference.cells {
            let e = expected[key.streamId] ?? (0, 0, 0)
            expected[key.streamId] = (e.samples + Double(cell.samples), e.wsum + cell.wsum.reduce(0, +), e.held + cell.held.reduce(0, +))
        }
        let stored = try connection.execute("""
            SELECT stream_id, sum(samples)::float8 AS samples, sum((SELECT sum(x) FROM unnest(wsum) x)) AS wsum,
                   sum((SELECT sum(x) FROM unnest(held) x)) AS held
            FROM minute_rollups GROUP BY stream_id
            """)
        var worst = 0.0
        for row in stored.map({ $0 }) {
            guard let e = expected[Int32(row.int("stream_id")!)] else { continue }
            for (a, b) in [(e.samples, row.double("samples")!), (e.wsum, row.double("wsum")!), (e.held, row.double("held")!)] {
                worst = max(worst, abs(a - b) / max(abs(a), 1))
            }
        }
        result.checks.append(String(format: "rollups against a computation over all records in order: largest relative difference %.1e over %d streams",
                                    worst, stored.rowCount))
    }
}
