import ArgumentParser
import ControlSiteRecords
import Foundation

/// A synthetic network (sites × devices × days at 1 Hz, one batch per device) loaded into the
/// chunk store with a bare COPY, day by day as it would have arrived, then the page reads timed
/// at that size: the 30-day batch trend from rollups, a zoomed raw window, a record by number,
/// the newest values of a site, and compare over every batch.
struct NetworkBenchmark {
    var spec: String
    var shape: DataShape
    var repeats: Int
    var keep: Bool
    var candidate: DesignCandidate = .chunks

    func run(admin: PostgresConnection, info: String, empty: Int64) throws {
        let parts = spec.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--network is SITESxDEVICESxDAYS, for example 10x10x30") }
        let (sites, devices, days) = (parts[0], parts[1], parts[2])
        let perDay: Int64 = 86_400
        var streams: [DesignStream] = []
        for s in 1...sites {
            for d in 1...devices {
                let id = Int32((s - 1) * devices + d)
                streams.append(DesignStream(
                    site: "site-\(s)", device: "bioreactor-\(d)", siteId: Int32(s), streamId: id, contextId: id,
                    context: .init(batchId: "B-\(s)-\(d)", phase: "expansion", specFingerprint: "sha256:" + String(repeating: "a", count: 64))))
            }
        }
        let connection = try StoreDesignBenchmark.freshDatabase("design_network", admin: admin, info: info)
        try DesignSchema.create(candidate, on: connection)
        let start = StoreDesignBenchmark.startNs
        try DesignSchema.createPartitions(candidate, covering: start...(start + Int64(days) * perDay * 1_000_000_000 + 10_000_000_000), on: connection)
        try DesignSchema.intern(streams, on: connection)
        let total = streams.count * days * Int(perDay)
        say("network: \(sites) sites × \(devices) devices × \(days) days at 1 Hz = \(total) samples (\(shape.rawValue)), \(candidate.rawValue)")

        var generators = streams.map { SampleGenerator(shape: shape, startNs: start, seed: UInt64($0.streamId)) }
        var previous = [[UInt8]](repeating: genesisHash, count: streams.count)
        var last: [Int32: DesignPoint] = [:]
        let meter = try CPUMeter(connection)
        for day in 0..<days {
            for (i, stream) in streams.enumerated() {
                let columns = generators[i].columns(stream, seqs: (Int64(day) * perDay + 1)...(Int64(day + 1) * perDay), previous: previous[i])
                let before = last[stream.streamId].map { [stream.streamId: $0] } ?? [:]
                _ = try DesignBulkLoad.load([columns], candidate: candidate, on: connection, before: before)
                previous[i] = Array(columns.hash(columns.count - 1))
                last[stream.streamId] = columns.point(columns.count - 1)
            }
            let so = meter.read(samples: (day + 1) * streams.count * Int(perDay))
            say("day \(day + 1) of \(days) loaded: \(so.text), \(StoreDesignBenchmark.uptime())")
        }
        try connection.execute("""
            UPDATE stream_progress p SET highest = \(Int64(days) * perDay), contiguous = \(Int64(days) * perDay)
            """)
        say("loaded: \(meter.read(samples: total).text)")
        try connection.execute("VACUUM ANALYZE")
        say(try DatabaseSize.measure(connection, empty: empty).text(total))

        var reads = try DesignReads(connection: connection, candidate: candidate, streams: streams)
        var rng = SplitMix64(seed: 3)
        func anyStream() -> DesignStream { streams[Int(rng.next() % UInt64(streams.count))] }
        let minutes = Int32(start / DesignSchema.nanosecondsPerMinute)...Int32((start + Int64(days) * perDay * 1_000_000_000) / DesignSchema.nanosecondsPerMinute)
        var count = 0
        let trend = try Timing.measure(repeats) { count = try reads.batchRollups(anyStream(), minutes: minutes) }
        say("read a \(days)-day batch's per-minute rollups (\(count) minutes × \(designParameters.count) parameters), parsed: \(trend.text)")
        let reduced = try Timing.measure(repeats) { count = try reads.batchRollupsBucketed(anyStream(), minutes: minutes, buckets: 1000) }
        say("the same reduced in SQL to 1,000 points per parameter (\(count) points): \(reduced.text)")
        let window = try Timing.measure(repeats) {
            let from = start + Int64(rng.next() % UInt64(Int64(days) * perDay - 3600)) * 1_000_000_000
            count = try reads.rawWindow(anyStream(), fromNs: from, toNs: from + 3_600_000_000_000)
        }
        say("zoomed raw window of one hour (\(count) records), decoded: \(window.text)")
        var failed = 0
        let record = try Timing.measure(repeats * 5) {
            if try !reads.record(anyStream(), seq: Int64(1 + rng.next() % UInt64(Int64(days) * perDay))) { failed += 1 }
        }
        say("one record by number, its chain recomputed within its chunk: \(record.text); \(failed) did not verify")
        let latest = try Timing.measure(repeats) {
            let site = Int32(1 + rng.next() % UInt64(sites))
            count = try reads.latest(streams.filter { $0.siteId == site })
        }
        say("sites page, newest record of each of a site's \(devices) devices: \(latest.text)")
        let compare = try Timing.measure(max(3, repeats / 5)) { count = try reads.compareFromRollups() }
        say("compare: mean and SD of every parameter of all \(count) batches from rollups: \(compare.text)")
        let meterVerify = try CPUMeter(connection)
        let verified = try reads.verifyStream(anyStream())
        say("one batch verified whole (\(verified.records) records, \(verified.verified) verify, \(verified.breaks) broken links): "
              + meterVerify.read(samples: verified.records).text)
        if !keep { try admin.execute("DROP DATABASE design_network WITH (FORCE)") }
    }
}
