@testable import ControlSiteRecords
import POCareContract
import POCareCore
import Foundation
import Logging
import Testing
import TestSupport

/// The minute rollups kept at ingest (`sample_minutes`) against a computation over every stored
/// sample made here in SQL, whatever order the samples arrive in.
@Suite("Minute rollups kept at ingest", .serialized)
struct MinuteRollupTests {
    let feed = SiteFeed(site: "site-r")

    /// Values that move, a label, a flag, a value not read well now and then, phases changing.
    static func readings(_ seq: Int64) -> [Reading] {
        [
            Reading(parameterId: "dissolved_oxygen", value: .number(40 + Double(seq % 17) * 0.25), quality: seq % 11 == 0 ? .badCommunication : .good),
            Reading(parameterId: "status", value: .text(seq % 90 < 45 ? "auto" : "manual"), quality: .good),
            Reading(parameterId: "ph", value: .number(7.0 + Double(seq % 7) / 100), quality: .good),
            Reading(parameterId: "running", value: .flag(seq % 5 != 0), quality: .good),
            Reading(parameterId: "temperature", value: .number(36.5 + Double(seq % 13) / 10), quality: .good),
        ]
    }

    func telemetry(_ seqs: ClosedRange<Int64>, feed: SiteFeed? = nil) -> SiteFeed.Message {
        (feed ?? self.feed).telemetry("rocker-1", seqs, batch: seqs.lowerBound > 400 ? nil : "B-7", phase: seqs.lowerBound <= 150 ? "expansion" : "harvest",
                                      spec: "sha256:aa", readings: Self.readings)
    }

    /// An hour later than `feed`: the interval into it is held a minute at most.
    var later: SiteFeed {
        var f = feed
        f.start = feed.start.addingTimeInterval(3600)
        return f
    }

    /// The messages of one stream: 1...150 and 151...400 in messages of 25 (phases and the batch
    /// change on message bounds), then 401...460 an hour later, outside the batch.
    func messages() -> [SiteFeed.Message] {
        stride(from: Int64(1), through: 376, by: 25).map { telemetry($0...($0 + 24)) }
            + [telemetry(401...430, feed: later), telemetry(431...460, feed: later)]
    }

    /// The rollups as stored, one line a cell, sums to nine significant digits.
    static func stored(_ db: IngestDatabase) throws -> [String] {
        try db.connection.execute("""
            SELECT stream || ' ' || minute || ' ' || batch || ' ' || phase || ' ' || parameter || ' ' || samples || ' ' || n || ' '
                   || coalesce(lo::text, '-') || ' ' || coalesce(hi::text, '-') || ' ' || to_char(wsum, 'FM9999999990.000000') || ' '
                   || to_char(held, 'FM9999999990.000') AS line
            FROM sample_minute_values ORDER BY stream, minute, batch, phase, parameter
            """).map { $0.string("line") ?? "" }
    }

    /// What the rollups must hold, computed from every stored sample at once: each sample counted
    /// in its minute, batch and phase; a number read well held until the stream's next number
    /// (consecutive numbers only), at most 60 s.
    static func expected(_ db: IngestDatabase) throws -> [String] {
        try db.connection.execute("""
            WITH s AS (
                SELECT stream, seq, round(extract(epoch FROM time) * 1000)::bigint AS ms, coalesce(batch, '') AS batch,
                       coalesce(phase, '') AS phase, "values", quality,
                       lead(seq) OVER w AS next_seq, lead(round(extract(epoch FROM time) * 1000)::bigint) OVER w AS next_ms
                FROM samples WINDOW w AS (PARTITION BY site, epoch, stream ORDER BY seq)),
            v AS (
                SELECT s.*, kv.key AS parameter,
                       CASE WHEN json_typeof(kv.value) = 'number' AND NOT coalesce(s.quality::jsonb ? kv.key, false)
                            THEN kv.value::text::float8 END AS x,
                       CASE WHEN s.next_seq = s.seq + 1 AND s.next_ms > s.ms THEN least(s.next_ms - s.ms, 60000) / 1000.0 ELSE 0 END AS hold
                FROM s CROSS JOIN LATERAL json_each(s."values") kv)
            SELECT stream || ' ' || floor(ms / 60000.0)::bigint || ' ' || batch || ' ' || phase || ' ' || parameter || ' ' || count(*) || ' '
                   || count(x) || ' ' || coalesce(min(x)::text, '-') || ' ' || coalesce(max(x)::text, '-') || ' '
                   || to_char(coalesce(sum(x * hold), 0), 'FM9999999990.000000') || ' '
                   || to_char(coalesce(sum(hold) FILTER (WHERE x IS NOT NULL), 0), 'FM9999999990.000') AS line
            FROM v GROUP BY stream, floor(ms / 60000.0)::bigint, batch, phase, parameter
            ORDER BY stream, floor(ms / 60000.0)::bigint, batch, phase, parameter
            """).map { $0.string("line") ?? "" }
    }

    @Test("samples stored in order: each minute counts its samples, lowest, highest and the time each number held")
    func inOrder() throws {
        let db = try IngestDatabase()
        for message in messages() { try db.write([message]) }
        let stored = try Self.stored(db)
        #expect(try stored == Self.expected(db))
        // 460 samples: 400 in the batch over two phases, 60 outside it an hour later.
        #expect(try db.count("SELECT sum(samples) FROM sample_minute_values WHERE parameter = 'ph'") == 460)
        #expect(try db.count("SELECT sum(samples) FROM sample_minute_values WHERE parameter = 'ph' AND batch = 'B-7'") == 400)
        // Every 11th dissolved-oxygen value was not read well: counted, not summed.
        #expect(try db.count("SELECT sum(samples) - sum(n) FROM sample_minute_values WHERE parameter = 'dissolved_oxygen'") == 460 / 11)
        // Labels and flags are counted only.
        #expect(try db.count("SELECT count(*) FROM sample_minute_values WHERE parameter IN ('status', 'running') AND (n > 0 OR held > 0)") == 0)
        // The hour between 400 and 401 holds sample 400's values one minute, no longer.
        #expect(try db.scalar("""
            SELECT held FROM sample_minute_values WHERE parameter = 'ph' AND minute = (SELECT max(minute) FROM sample_minutes WHERE batch = 'B-7')
            """).flatMap(Double.init).map { $0 >= 60 && $0 < 120 } == true)
    }

    @Test("samples arriving out of order, resent, and over two writers (a restart) give the same rollups as in order")
    func anyOrder() throws {
        let ordered = try IngestDatabase()
        for message in messages() { try ordered.write([message]) }

        let db = try IngestDatabase()
        let all = messages()
        // Live ahead of a gap, the gap filled backwards, resends overlapping what is stored.
        try db.write([all[0], all[1], all[5], all[6]])
        try db.write([all[15], all[4]])
        try db.write([telemetry(60...90), all[3], all[2]])
        let restarted = try IngestWriter(connection: PostgresConnection(db.connectionInfo), logger: Logger(label: "test"))
        for message in [all[14], all[7], all[9], all[8], all[10], all[13], all[12], all[11], all[15], all[17], all[16]] {
            _ = try restarted.write([.message(try ContractMessage.of(message))])
        }
        #expect(try db.count("SELECT count(*) FROM samples") == 460)
        let stored = try Self.stored(db)
        #expect(stored == (try Self.stored(ordered)))
        #expect(try stored == Self.expected(db))
    }

    @Test("samples whose parameters change order, lose one or gain one within a minute roll up as every sample computed at once")
    func changingParameters() throws {
        let db = try IngestDatabase()
        // The cells of a minute are found by the sample's list of parameters, mostly the very
        // list of the sample before: here the list changes from sample to sample and message to message.
        func varying(_ seq: Int64) -> [Reading] {
            var readings = Self.readings(seq)
            if seq % 4 == 0 { readings.reverse() }
            if seq % 6 == 0 { readings.removeFirst() }
            if seq % 9 == 0 { readings.append(Reading(parameterId: "co2", value: .number(Double(seq) / 3), quality: .good)) }
            return readings
        }
        let messages = stride(from: Int64(1), through: 181, by: 20).map {
            feed.telemetry("rocker-1", $0...($0 + 19), batch: "B-7", phase: "expansion", spec: "sha256:aa", readings: varying)
        }
        // Two messages a transaction, so a minute's cells meet another message's list of the same parameters.
        for pair in stride(from: 0, to: messages.count, by: 2) { try db.write(Array(messages[pair..<min(pair + 2, messages.count)])) }
        #expect(try db.count("SELECT count(*) FROM samples") == 200)
        #expect(try db.count("SELECT sum(samples) FROM sample_minute_values WHERE parameter = 'co2'") == 200 / 9)
        #expect(try Self.stored(db) == Self.expected(db))
    }

    @Test("verify computes the rollups again from the samples: a changed cell is named; missing ones are named and built by a rebuild")
    func verifyAndRebuild() throws {
        let db = try IngestDatabase()
        for message in messages() { try db.write([message]) }
        func verify(_ batch: String? = nil, rebuild: Bool = false) throws -> MinuteRollupCheck.Result {
            try MinuteRollupCheck.verify(site: "site-r", batch: batch, rebuild: rebuild, on: db.connection)
        }
        var result = try verify()
        #expect(result.intact && result.lines == ["minute rollups: 1 streams agree with their samples"], "\(result.lines)")

        // Written outside the Control Site: named, exit 1.
        try db.connection.execute("""
            UPDATE sample_minutes SET hi[array_position(parameters, 'ph')] = hi[array_position(parameters, 'ph')] + 1
            WHERE minute = (SELECT min(minute) FROM sample_minutes)
            """)
        result = try verify("B-7")
        #expect(!result.intact && result.lines.first?.contains("1 cells differ from the samples") == true, "\(result.lines)")
        #expect(try verify("B-7").intact == false)

        // As a database migrated with samples stored before rollups were kept: named, not a failure; a rebuild builds them.
        try db.connection.execute("DELETE FROM sample_minutes WHERE batch = 'B-7'")
        result = try verify()
        #expect(result.intact && result.lines.first?.contains("cells missing") == true, "\(result.lines)")
        result = try verify(rebuild: true)
        #expect(result.intact && result.lines.first?.contains("rebuilt from the samples") == true, "\(result.lines)")
        #expect(try Self.stored(db) == Self.expected(db))
        #expect(try verify().lines == ["minute rollups: 1 streams agree with their samples"])
    }

    @Test("a stream's last record replaced by QA after a differing copy: the next sample's interval is taken from the record as it is now")
    func tailReplacedByDispute() throws {
        let db = try IngestDatabase()
        let feed = SiteFeed(site: "site-a")
        try db.write([feed.telemetry("rocker-1", 1...10, batch: "B-1", phase: "expansion", hashed: true)])
        // A forged number 11 first (stored, and the writer's last sample of the stream), then the site's own.
        try db.write([feed.telemetry("rocker-1", 11...11, batch: "B-1", phase: "expansion", hashed: false) { _ in ["temperature": 39.9, "ph": 7.2] }])
        try db.write([feed.telemetry("rocker-1", 11...11, batch: "B-1", phase: "expansion", hashed: true)])
        let dispute = try #require(try RecordDispute.list(db.connection).first)
        _ = try RecordDispute.resolve(id: dispute.id, keep: .received, reason: "the site's chain holds the received one", user: "qa", on: db.connection)
        // Number 12 names the site's 11 as its predecessor: the forged one the writer remembers is not used.
        try db.write([feed.telemetry("rocker-1", 12...20, batch: "B-1", phase: "expansion", hashed: true)])
        let check = try MinuteRollupCheck.verify(site: "site-a", batch: nil, rebuild: false, on: db.connection)
        #expect(check.intact, "\(check.lines)")
        #expect(try db.scalar("SELECT max(hi) FROM sample_minute_values WHERE parameter = 'temperature'") == "37")
    }

    @Test("a sample's values as rolled up: numbers kept, labels and flags counted, what quality names not read well")
    func sampleValues() {
        let values = Array(#"{"a":1.5,"b":"label","c":true,"d":-2e3,"e":null,"f":{"x":1}}"#.utf8)[...]
        let sample = RolledSample(timeMs: 0, batch: nil, phase: "p", values: values, quality: Array(#"{"d":"bad_device"}"#.utf8)[...])
        #expect(sample.parameters == ["a", "b", "c", "d", "e", "f"])
        #expect(sample.numbers == [1.5, nil, nil, nil, nil, nil])
        #expect(RolledSample(timeMs: 0, batch: nil, phase: nil, values: Array("not json".utf8)[...], quality: nil).parameters.isEmpty)
        #expect(RolledSample(timeMs: -1, batch: nil, phase: nil, values: Array("{}".utf8)[...], quality: nil).minute == -1)
        #expect(RolledSample(timeMs: 59_999, batch: nil, phase: nil, values: Array("{}".utf8)[...], quality: nil).minute == 0)
    }

    @Test("a fresh sample rolls up from the values its message's reader read exactly as from its bytes")
    func freshSamplesAsTheirBytes() throws {
        let samples = [
            #"{"a":1.5,"b":"label","c":true,"d":-2e-3,"e":null,"f":false,"g":0}"#,
            #"{"a":-0.0,"\u0062":"x\"y","c":1E2,"d":123456789012345678901234567890,"e":null,"f":7,"g":-5}"#,
            #"{"g":1,"a":2}"#,
            #"{}"#,
            #"{"a":3,"d":4}"#,
        ]
        let body = samples.enumerated().map { offset, values in
            #"{"seq":\#(offset + 1),"time":"2026-12-05T00:00:0\#(offset).000Z","values":\#(values)}"#
        }.joined(separator: ",")
        let payload = #"{"schema":"pocare/v1/telemetry","site":"site-r","device":"r1","stream":"r1/telemetry","seq_first":1,"seq_last":\#(samples.count),"samples":[\#(body)]}"#
        guard case .records(let message) = try ContractMessage.parse(topic: "pocare/v1/site-r/r1/telemetry", payload: Array(payload.utf8)) else {
            Issue.record("not a records message")
            return
        }
        var previousFresh: RolledSample?, previousBytes: RolledSample?
        for sample in message.samples {
            #expect(sample.readValues != nil, "sample \(sample.seq) was read")
            let fresh = RolledSample(timeMs: 1000, fresh: sample, previous: previousFresh)
            let bytes = RolledSample(timeMs: 1000, batch: sample.batch, phase: sample.phase, values: sample.values, quality: nil, previous: previousBytes)
            #expect(fresh.parameters == bytes.parameters, "sample \(sample.seq)")
            #expect(fresh.numbers.map { $0?.bitPattern } == bytes.numbers.map { $0?.bitPattern }, "sample \(sample.seq)")
            (previousFresh, previousBytes) = (fresh, bytes)
        }
        #expect(message.samples[1].parameters == ["a", "b", "c", "d", "e", "f", "g"])
        #expect(RolledSample(timeMs: 0, fresh: message.samples[1]).numbers == [-0.0, nil, 100, 1.2345678901234568e29, nil, 7, -5])
        // Values changed after the reader read them are read from their bytes.
        var changed = message.samples[2]
        changed.values = Array(#"{"z":9}"#.utf8)[...]
        #expect(changed.readValues == nil)
        #expect(RolledSample(timeMs: 0, fresh: changed).parameters == ["z"])
        #expect(RolledSample(timeMs: 0, fresh: changed).numbers == [9])
    }

    @Test("a stream's samples kept by number answer as a dictionary would, looked up, read in place or lent, whatever order they are kept in")
    func knownSamplesByNumber() {
        // Each sample kept is told apart by its time: the order in which it was kept.
        func sample(_ version: Int) -> RolledSample {
            RolledSample(timeMs: Int64(version), batch: nil, phase: nil, values: Array("{}".utf8)[...], quality: nil)
        }
        // Runs in order, a message out of order, a tail before the first, numbers kept twice, neighbours read back.
        let orders: [[Int64]] = [
            Array(1...10), Array(11...20) + Array(1...10), [5, 4, 6, 7, 3, 8, 9], [100, 99, 101, 102, 98], [7, 9, 8, 10, 9, 11, 7],
            Array(1...5) + [8, 9] + Array(6...12), [1 << 61, (1 << 61) - 1, (1 << 61) + 1],
        ]
        var generator = SystemRandomNumberGenerator()
        let random = (0..<50).map { _ in (0..<40).map { _ in Int64.random(in: 1...30, using: &generator) } }
        for order in orders + random {
            var known = KnownSamples()
            var model: [Int64: RolledSample] = [:]
            for (version, seq) in order.enumerated() {
                known.keep(sample(version), at: seq)
                model[seq] = sample(version)
            }
            let low = (order.min() ?? 0) - 2, high = (order.max() ?? 0) + 2
            for seq in stride(from: low, through: high, by: 1) {
                #expect(known[seq]?.timeMs == model[seq]?.timeMs, "order \(order), number \(seq)")
                // Read in place, and lent, the same sample.
                #expect(known.timeMs(seq) == model[seq]?.timeMs && known.contains(seq) == (model[seq] != nil), "order \(order), number \(seq)")
                var lent: Int64?
                let found = known.lend(seq) { lent = $0.timeMs }
                #expect(found == (model[seq] != nil) && lent == model[seq]?.timeMs, "order \(order), number \(seq)")
            }
        }
    }

    @Test("a key takes the name of the sample before only where it spells it without escapes")
    func keysAfterThePreviousSample() {
        // `"\\u0041"` is the six characters \u0041; `"\u0041"` is "A", though its bytes between the quotes read \u0041.
        let first = RolledSample(timeMs: 0, batch: nil, phase: nil, values: Array(#"{"\\u0041":1,"b":2}"#.utf8)[...], quality: nil)
        #expect(first.parameters == [#"\u0041"#, "b"])
        let second = RolledSample(timeMs: 1000, batch: nil, phase: nil, values: Array(#"{"\u0041":3,"b":4}"#.utf8)[...], quality: nil,
                                  previous: first)
        #expect(second.parameters == ["A", "b"])
        #expect(second.numbers == [3, 4])
    }

    @Test("the site's time form read to the millisecond as the database reads it")
    func siteTimes() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for time in ["1970-01-01T00:00:00.000Z", "2026-12-05T03:39:08.123Z", "2028-02-29T23:59:59.999Z", "2100-03-01T00:00:00.001Z",
                     "2000-02-29T12:00:00.500Z"] {
            let expected = formatter.date(from: time).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
            #expect(siteTimeMilliseconds(time) == expected, "\(time)")
        }
        for bad in ["2026-13-05T03:39:08.123Z", "2026-12-05T03:39:08Z", "2026-12-05 03:39:08.123Z", "2026-12-05T03:3x:08.123Z", ""] {
            #expect(siteTimeMilliseconds(bad) == nil, "\(bad)")
        }
    }
}
