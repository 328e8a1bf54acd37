import ControlSiteQuality
import ControlSiteRecords
import ControlSiteWeb
import Hashing
import Foundation
import POCareContract
import POCareCore
import Testing
import TestSupport

/// What an anonymous broker client tried, and what ingest does with it now.
@Suite("Ingest refuses what the contract forbids and holds aside what no birth names", .serialized)
struct IngestForgeryTests {
    let feed = SiteFeed(site: "site-a")

    func refusal(_ topic: String, _ payload: [UInt8], limits: ContractLimits = .standard) -> String? {
        do {
            _ = try ContractMessage.parse(topic: topic, payload: payload, limits: limits)
            return nil
        } catch {
            return error.description
        }
    }

    func telemetry(values: String, extra: String = "", time: String = "2026-11-25T08:00:00.250Z") -> [UInt8] {
        Array("""
            {"seq_first":1,"seq_last":1,"schema":"pocare/v1/telemetry","site":"site-a","device":"rocker-1","stream":"rocker-1/telemetry",\
            "samples":[{"seq":1,"time":"\(time)","values":\(values)}]\(extra)}
            """.utf8)
    }

    @Test("a message's samples are those of its last samples member, however its key is spelled; a sample that is no object is refused by its number")
    func samplesMemberAsSent() throws {
        let topic = "pocare/v1/site-a/rocker-1/telemetry"
        func sample(_ seq: Int, _ value: Int) -> String { #"{"seq":\#(seq),"time":"2026-11-25T08:00:0\#(seq).250Z","values":{"a":\#(value)}}"# }
        func message(_ members: String) -> [UInt8] {
            Array(#"{"seq_first":1,"seq_last":2,"schema":"pocare/v1/telemetry","site":"site-a","device":"rocker-1","stream":"rocker-1/telemetry",\#(members)}"#.utf8)
        }
        func values(_ payload: [UInt8]) throws -> [[Value?]] {
            guard case .records(let parsed) = try ContractMessage.parse(topic: topic, payload: payload) else { return [] }
            return parsed.samples.map { $0.readValues ?? [] }
        }
        let first = "[\(sample(1, 1)),\(sample(2, 2))]", second = "[\(sample(1, 7)), \(sample(2, 8))]"
        #expect(try values(message(#""samples":\#(first)"#)) == [[.number(1)], [.number(2)]])
        // Given twice, the last counts; spelled with an escape, it is still the samples.
        #expect(try values(message(#""samples":\#(first),"samples":\#(second)"#)) == [[.number(7)], [.number(8)]])
        #expect(try values(message(#""samples":\#(first),"\u0073amples":\#(second)"#)) == [[.number(7)], [.number(8)]])
        #expect(try values(message(#""\u0073amples":\#(first),"samples":\#(second)"#)) == [[.number(7)], [.number(8)]])
        #expect(refusal(topic, message(#""samples":[\#(sample(1, 1)),7]"#))?.contains("sample 2: malformed JSON") == true)
        #expect(refusal(topic, message(#""samples":[\#(sample(1, 1)),[1]]"#))?.contains("sample 2: malformed JSON") == true)
    }

    @Test("each sample's parameters are its own keys, however they change from the sample before; a key given twice is refused in any sample")
    func keysFromSampleToSample() throws {
        let topic = "pocare/v1/site-a/rocker-1/telemetry"
        func message(_ values: [String]) -> [UInt8] {
            let samples = values.enumerated().map { i, v in #"{"seq":\#(i + 1),"time":"2026-11-25T08:00:0\#(i).250Z","values":\#(v)}"# }
            return Array(("""
                {"seq_first":1,"seq_last":\(values.count),"schema":"pocare/v1/telemetry","site":"site-a","device":"rocker-1",\
                "stream":"rocker-1/telemetry","samples":[\(samples.joined(separator: ","))]}
                """).utf8)
        }
        let keys: [[String]] = [["a", "b"], ["a", "b"], ["a", "b", "c"], ["a"], ["b", "a"], [], ["a", "b"], ["a", "b"]]
        let values = keys.map { "{" + $0.map { #""\#($0)":1"# }.joined(separator: ",") + "}" }
        guard case .records(let parsed) = try ContractMessage.parse(topic: topic, payload: message(values)) else {
            Issue.record("not records")
            return
        }
        #expect(parsed.samples.map(\.parameters) == keys)
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"a":2}"#]))?.contains("'a' is given twice") == true)
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"b":2,"a":3}"#]))?.contains("'a' is given twice") == true)
        // A key spelled with an escape is the name it spells, the same as when spelled plainly.
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"\u0061":2}"#]))?.contains("'a' is given twice") == true)
        guard case .records(let escaped) = try ContractMessage.parse(topic: topic, payload: message([#"{"a":1,"b":2}"#, #"{"\u0061":1,"b\n":2}"#, #"{"a":1,"b":true}"#])) else {
            Issue.record("not records")
            return
        }
        #expect(escaped.samples.map(\.parameters) == [["a", "b"], ["a", "b\n"], ["a", "b"]])
        #expect(escaped.samples.map { $0.readValues ?? [] } == [[.number(1), .number(2)], [.number(1), .number(2)], [.number(1), .flag(true)]])
    }

    @Test("a message beyond its size, too many samples or values, a number beyond a double, values that are not plain: each refused, naming why")
    func contractLimits() throws {
        let topic = "pocare/v1/site-a/rocker-1/telemetry"
        #expect(refusal(topic, telemetry(values: "{\"temperature\":37.1}")) == nil)
        // 300 KiB of padding: the contract's telemetry message is at most 256 KiB.
        let big = telemetry(values: "{\"temperature\":37.1}", extra: ",\"pad\":\"\(String(repeating: "x", count: 300 * 1024))\"")
        #expect(refusal(topic, big)?.contains("bytes; the contract allows 262144") == true)
        #expect(refusal(topic, telemetry(values: "{\"temperature\":1e400}"))?.contains("beyond a double") == true)
        for beyond in ["-1E+309", "0.5e309", "1" + String(repeating: "0", count: 60) + "e250"] {
            #expect(refusal(topic, telemetry(values: "{\"temperature\":\(beyond)}"))?.contains("beyond a double") == true, "\(beyond)")
        }
        // Without an exponent a number is at most 64 characters, far below the largest double; tiny ones round to zero.
        for within in [String(repeating: "9", count: 64), "-" + String(repeating: "9", count: 63), "0." + String(repeating: "0", count: 61) + "1",
                       "1e308", "1e-400"] {
            #expect(refusal(topic, telemetry(values: "{\"temperature\":\(within)}")) == nil, "\(within)")
        }
        #expect(refusal(topic, telemetry(values: "{\"temperature\":\(String(repeating: "9", count: 65))}"))?.contains("beyond a double") == true)
        #expect(refusal(topic, telemetry(values: "[1,2,3]"))?.contains("values: expected an object") == true)
        #expect(refusal(topic, telemetry(values: "{\"temperature\":{\"x\":1}}"))?.contains("must be a number, a flag, a label or null") == true)
        #expect(refusal(topic, telemetry(values: "{\"temperature\":1,\"temperature\":2}"))?.contains("given twice") == true)
        #expect(refusal(topic, telemetry(values: "{}", time: "yesterday"))?.contains("not a UTC time") == true)
        // The site's fixed form is checked byte by byte: separators, digits and ranges.
        for time in ["2026-11-25T08x00:01.250Z", "2026-11-25T08:00:01.25xZ", "2026-13-25T08:00:01.250Z", "2026-11-00T08:00:01.250Z",
                     "2026-11-25T24:00:01.250Z", "2026-11-25T08:60:01.250Z", "2026/11/25T08:00:01.250Z"] {
            #expect(refusal(topic, telemetry(values: "{}", time: time))?.contains("not a UTC time") == true, "\(time)")
        }
        #expect(refusal(topic, telemetry(values: "{}", time: "2026-12-31T23:59:60.999Z")) == nil)
        var tight = ContractLimits()
        tight.parametersPerSample = 3
        tight.samplesPerMessage = 1
        #expect(refusal(topic, telemetry(values: "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}"), limits: tight)?.contains("4 values; the contract allows 3") == true)
        let two = Array(String(decoding: telemetry(values: "{}"), as: UTF8.self)
            .replacingOccurrences(of: "\"seq_last\":1", with: "\"seq_last\":2")
            .replacingOccurrences(of: "}]}", with: "},{\"seq\":2,\"time\":\"2026-11-25T08:00:01.250Z\",\"values\":{}}]}").utf8)
        #expect(refusal(topic, two) == nil)
        #expect(refusal(topic, two, limits: tight)?.contains("2 samples in one message; the contract allows 1") == true)
        // A message on one device's topic that names another device's stream is not that device's.
        let elsewhere = Array(String(decoding: telemetry(values: "{}"), as: UTF8.self).replacingOccurrences(of: "rocker-1/telemetry", with: "str-1/telemetry").utf8)
        #expect(refusal(topic, elsewhere)?.contains("on the telemetry topic of 'rocker-1'") == true)
    }

    @Test("each sample's keys are checked on their own: a later sample that changes them, repeats one or nests a value is read or refused as if it came first")
    func keysPerSample() throws {
        let topic = "pocare/v1/site-a/rocker-1/telemetry"
        func message(_ values: [String]) -> [UInt8] {
            let samples = values.enumerated().map { i, v in "{\"seq\":\(i + 1),\"time\":\"2026-11-25T08:00:0\(i).250Z\",\"values\":\(v)}" }
            return Array("""
                {"seq_first":1,"seq_last":\(values.count),"schema":"pocare/v1/telemetry","site":"site-a","device":"rocker-1",\
                "stream":"rocker-1/telemetry","samples":[\(samples.joined(separator: ","))]}
                """.utf8)
        }
        let changing = try ContractMessage.parse(topic: topic, payload: message([#"{"a":1,"b":2}"#, #"{"a":1,"b":2}"#, #"{"a":1,"c":2}"#, #"{"\u0061":1,"b":2}"#]))
        guard case .records(let records) = changing else { throw TestFailure("not records") }
        #expect(records.samples.map(\.parameters) == [["a", "b"], ["a", "b"], ["a", "c"], ["a", "b"]])
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"a":2}"#]))?.contains("'a' is given twice") == true)
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"b":[2]}"#]))?.contains("'b' must be a number, a flag, a label or null") == true)
        #expect(refusal(topic, message([#"{"a":1,"b":2}"#, #"{"a":1,"b":2}"#, #"{"a":1,"b":{}}"#]))?.contains("sample 3") == true)
    }

    @Test("a stream of a device no birth names is held aside as a finding, never a batch; the site's own devices are stored")
    func ghostDevice() throws {
        let db = try IngestDatabase(announcesDevices: false)
        try db.write([try feed.metadata("rocker-1", profile: "rocking-bag-rb50"),
                      feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B-1", phase: "expansion", spec: nil)])])
        let ghost = try db.write([feed.telemetry("ghost-1", 1...20, batch: "GHOST-BATCH", phase: "expansion"),
                                  feed.event("ghost-1", seq: 1, kind: "batch_started", batch: "GHOST-BATCH")])
        #expect(ghost.held == 2 && ghost.inserted == 0)
        let real = try db.write([feed.telemetry("rocker-1", 1...20, batch: "B-1", phase: "expansion")])
        #expect(real.inserted == 20 && real.held == 0)
        #expect(try db.count("SELECT count(*) FROM samples WHERE device = 'ghost-1'") == 0)
        #expect(try db.count("SELECT count(*) FROM events WHERE device = 'ghost-1'") == 0)
        #expect(try BatchSummary.list(db.connection).map(\.batch) == ["B-1"])
        #expect(try db.count("SELECT count(*) FROM held_messages WHERE device = 'ghost-1' AND released IS NULL") == 2)
        let finding = try #require(try IntegrityReport.load(db.connection, site: "site-a").findings.first { $0.kind == "held_aside" })
        #expect(finding.stream == "ghost-1/telemetry" && finding.detail.contains("not named by any birth"))
    }

    @Test("records that arrive before their device's birth are held, and stored once the birth and metadata name it")
    func releasedByBirth() throws {
        let db = try IngestDatabase(announcesDevices: false)
        #expect(try db.write([feed.telemetry("rocker-2", 1...30, batch: "B-2", phase: "expansion")]).held == 1)
        let birth = try db.write([try feed.metadata("rocker-2", profile: "rocking-bag-rb50"),
                                  feed.status(devices: [.init(id: "rocker-2", profile: "rocking-bag-rb50", batch: "B-2", phase: "expansion", spec: nil)])])
        #expect(birth.inserted == 30 && birth.held == 0)
        #expect(try db.count("SELECT count(*) FROM held_messages WHERE released IS NULL") == 0)
        #expect(try IntegrityReport.load(db.connection, site: "site-a").findings.isEmpty)
        #expect(try db.scalar("SELECT contiguous FROM streams WHERE stream = 'rocker-2/telemetry'") == "30")
    }

    @Test("values the device's metadata does not name are held aside, not stored")
    func unknownParameters() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...5)])
        let forged = try db.write([feed.telemetry("rocker-1", 6...6) { _ in ["temperature": 37, "bogus_parameter": 1] }])
        #expect(forged.held == 1 && forged.inserted == 0)
        let detail = try db.scalar("SELECT reason FROM held_messages")
        #expect(detail?.contains("'bogus_parameter' is not a parameter of rocker-1's metadata") == true)
    }

    @Test("a copy ahead of the real record with hash null: a chain break; both copies kept, the record disputed, the batch unsignable until QA decides")
    func nullHashAheadOfTheRecord() throws {
        let db = try IngestDatabase()
        try db.write([feed.telemetry("rocker-1", 1...10, batch: "B-1", phase: "expansion", hashed: true)])
        // A forger publishes number 11 first, with no hash and a value of its own.
        try db.write([feed.telemetry("rocker-1", 11...11, batch: "B-1", phase: "expansion", hashed: false) { _ in ["temperature": 39.9, "ph": 7.2] }])
        let breaks = try IntegrityReport.load(db.connection, site: "site-a").findings.filter { $0.kind == "chain_break" }
        #expect(breaks.contains { $0.seqFrom == 11 && $0.detail.contains("carries no hash") }, "\(breaks)")
        // The site's own number 11 arrives: a differing copy. Both are kept and the record is disputed.
        let genuine = try db.write([feed.telemetry("rocker-1", 11...12, batch: "B-1", phase: "expansion", hashed: true)])
        #expect(genuine.conflicts == 1 && genuine.inserted == 1)
        #expect(try db.count("SELECT count(*) FROM record_versions WHERE stream = 'rocker-1/telemetry' AND seq = 11") == 2)
        let dispute = try #require(try RecordDispute.list(db.connection).first)
        #expect(dispute.seq == 11 && dispute.batches == ["B-1"] && dispute.versions.count == 2)
        #expect(try RecordDispute.openCount(site: "site-a", batch: "B-1", on: db.connection) == 1)

        try WebUsers.add(userName: "quinn", fullName: "Quinn Assurance", role: .qa, password: "correct horse battery",
                         iterations: PasswordHash.minimumIterations, by: "test", on: db.connection)
        func sign() throws -> Disposition.Signature {
            try BatchSignatures.sign(site: "site-a", batch: "B-1", meaning: .reviewed,
                                     shownHash: try BatchRecordDigest.hash(site: "site-a", batch: "B-1", on: db.connection) ?? "", comment: "",
                                     userName: "quinn", password: "correct horse battery", on: db.connection)
        }
        let refusal = #expect(throws: QualityRefusal.self) { try sign() }
        #expect(refusal?.message.contains("disputed") == true)
        #expect(try db.count("SELECT count(*) FROM control_audit WHERE action = 'batch.sign.refused'") == 1)

        // QA decides: the received copy is the record. It replaces the stored one; both stay kept; audited.
        #expect(throws: RecordDispute.Refusal.self) { try RecordDispute.resolve(id: dispute.id, keep: .received, reason: " ", user: "qa", on: db.connection) }
        let resolved = try RecordDispute.resolve(
            id: dispute.id, keep: .received, reason: "the stored copy carried no hash; the site's chain holds the received one", user: "qa",
            on: db.connection)
        #expect(resolved.kept == "received" && resolved.resolvedBy == "qa")
        #expect(try db.scalar("SELECT \"values\"->>'temperature' FROM samples WHERE stream = 'rocker-1/telemetry' AND seq = 11") == "37")
        // The minute rollups follow the record: 39.9 is no longer the highest temperature.
        #expect(try db.scalar("SELECT max(hi) FROM sample_minute_values WHERE parameter = 'temperature'") == "37")
        #expect(try MinuteRollupCheck.verify(site: "site-a", batch: nil, rebuild: false, on: db.connection).intact)
        #expect(try db.scalar("SELECT hash IS NOT NULL FROM samples WHERE stream = 'rocker-1/telemetry' AND seq = 11") == "t")
        #expect(try db.count("SELECT count(*) FROM record_versions WHERE seq = 11") == 2)
        #expect(try db.count("SELECT count(*) FROM control_audit WHERE action = 'record.dispute.resolve'") == 1)
        #expect(try RecordDispute.openCount(site: "site-a", batch: "B-1", on: db.connection) == 0)
        // Nothing disputed stands in the way any more (the batch still runs, so it is not signed yet).
        let after = #expect(throws: QualityRefusal.self) { try sign() }
        #expect(after?.message.contains("disputed") == false && after?.message.contains("the batch runs") == true)
        // The same forged copy sent again does not open the dispute again.
        try db.write([feed.telemetry("rocker-1", 11...11, batch: "B-1", phase: "expansion", hashed: false) { _ in ["temperature": 39.9, "ph": 7.2] }])
        #expect(try RecordDispute.openCount(site: "site-a", batch: "B-1", on: db.connection) == 0)
    }
}
