import POCareContract
import ArgumentParser
import ControlSiteRecords
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
    var layout = ChunkLayout()
    /// Archive and restore the first month (the files are written by the server: a local cluster only).
    var archive = true

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
        try DesignSchema.createPartitions(candidate, covering: start...(start + Int64(days) * perDay * 1_000_000_000 + 10_000_000_000),
                                         layout: layout, on: connection)
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
                _ = try DesignBulkLoad.load([columns], candidate: candidate, layout: layout, on: connection, before: before)
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
        try hourLevel(connection, streams: streams, days: days, anyStream: anyStream)
        if archive {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let first = calendar.date(from: calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(start) / 1e9)))!
            let next = calendar.date(byAdding: .month, value: 1, to: first)!
            let name = String(format: "%04d_%02d", calendar.component(.year, from: first), calendar.component(.month, from: first))
            let whole = anyStream()
            let before = try reads.verifyStream(whole)
            try ArchiveMonth(connection: connection, month: name,
                             bounds: (Int64(first.timeIntervalSince1970) * 1_000_000_000, Int64(next.timeIntervalSince1970) * 1_000_000_000),
                             directory: "/tmp/pocare-archive-\(getpid())").run()
            let after = try reads.verifyStream(whole)
            say("a batch across the archived month, verified before (\(before.verified) of \(before.records) records, \(before.breaks) broken links) "
                + "and after restore (\(after.verified) of \(after.records), \(after.breaks) broken links)")
            try? FileManager.default.removeItem(atPath: "/tmp/pocare-archive-\(getpid())")
        }
        if !keep { try admin.execute("DROP DATABASE design_network WITH (FORCE)") }
    }

    /// A second level of rollups, per hour, built from the minutes (what ingest would keep up as
    /// hours close), and the reads it serves: a long batch's trend, and compare from per-batch sums.
    private func hourLevel(_ connection: PostgresConnection, streams: [DesignStream], days: Int, anyStream: () -> DesignStream) throws {
        let clock = ContinuousClock(), started = clock.now
        try connection.executeScript("""
            CREATE AGGREGATE f8_sum(float8[]) (sfunc = f8_add, stype = float8[]);
            CREATE AGGREGATE i4_sum(int[]) (sfunc = i4_add, stype = int[]);
            CREATE AGGREGATE f8_min(float8[]) (sfunc = f8_least, stype = float8[]);
            CREATE AGGREGATE f8_max(float8[]) (sfunc = f8_greatest, stype = float8[]);
            CREATE TABLE hour_rollups (LIKE minute_rollups);
            ALTER TABLE hour_rollups RENAME COLUMN minute TO hour;
            INSERT INTO hour_rollups
            SELECT minute / 60, site_id, stream_id, context_id, sum(samples), i4_sum(n), f8_min(lo), f8_max(hi), f8_sum(wsum), f8_sum(wsq),
                   f8_sum(held)
            FROM minute_rollups GROUP BY 1, 2, 3, 4;
            ALTER TABLE hour_rollups ADD PRIMARY KEY (site_id, stream_id, hour, context_id);
            ANALYZE hour_rollups;
            """)
        let hours = try connection.execute("SELECT count(*) FROM hour_rollups").int(0, 0) ?? 0
        say("hour rollups built from the minutes: \(hours) rows in \(StoreDesignBenchmark.seconds(clock.now - started)) s")
        var count = 0
        let trend = try Timing.measure(repeats) {
            let s = anyStream()
            count = try connection.execute("""
                SELECT hour, samples, lo::text, hi::text, wsum::text, held::text FROM hour_rollups
                WHERE site_id = $1 AND stream_id = $2 ORDER BY hour
                """, [String(s.siteId), String(s.streamId)]).rowCount
        }
        say("read a \(days)-day batch's hour rollups (\(count) hours): \(trend.text)")
        let compare = try Timing.measure(repeats) {
            count = try connection.execute("""
                SELECT site_id, stream_id, context_id, p, sum(wsum[p]) / nullif(sum(held[p]), 0) AS mean,
                       sqrt(greatest(sum(wsq[p]) / nullif(sum(held[p]), 0) - (sum(wsum[p]) / nullif(sum(held[p]), 0)) ^ 2, 0)) AS sd
                FROM hour_rollups, generate_series(1, \(designParameters.count)) p GROUP BY 1, 2, 3, 4
                """).rowCount / designParameters.count
        }
        say("compare from hour rollups, mean and SD of every parameter of all \(count) batches: \(compare.text)")
    }
}
