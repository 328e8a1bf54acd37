import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

@Suite("Reading contract v1 messages at the Control Site")
struct ContractMessageTests {
    let feed = SiteFeed(site: "site-a")

    @Test("telemetry splits into its samples, each kept byte for byte, numbered seq_first...seq_last")
    func telemetry() throws {
        let message = feed.telemetry("rocker-1", 5...7, batch: "B1", phase: "expansion", spec: "sha256:ab")
        guard case .records(let r) = try ContractMessage.of(message) else { Issue.record("not records"); return }
        #expect(r.site == "site-a" && r.stream == "rocker-1/telemetry" && r.device == "rocker-1" && r.kind == .sample)
        #expect(r.seqFirst == 5 && r.seqLast == 7 && r.records.count == 3 && r.epoch == "")
        let first = String(decoding: r.records[0], as: UTF8.self)
        #expect(first.hasPrefix("{\"seq\":5,") && first.hasSuffix("}") && message.payload.contains(first))
    }

    @Test("events and audit entries are one record each; audit entries carry their chain")
    func eventsAndAudit() throws {
        guard case .records(let e) = try ContractMessage.of(feed.event("rocker-1", seq: 3, kind: "batch_started", batch: "B1")) else {
            Issue.record("not records"); return
        }
        #expect(e.kind == .event && e.seqFirst == 3 && e.stream == "rocker-1/events" && !e.carriesChain)
        guard case .records(let a) = try ContractMessage.of(feed.audit(2)[1]) else { Issue.record("not records"); return }
        #expect(a.kind == .audit && a.seqFirst == 2 && a.carriesChain)
    }

    @Test("sequence numbers no site store can assign are refused, never overflow the range arithmetic")
    func impossibleNumbers() {
        var huge = feed.telemetry("rocker-1", 1...2)
        huge.payload = huge.payload.replacingOccurrences(of: "\"seq_first\":1", with: "\"seq_first\":-9223372036854775807")
            .replacingOccurrences(of: "\"seq_last\":2", with: "\"seq_last\":9223372036854775807")
        #expect(throws: ContractMessage.Failure.self) { try ContractMessage.of(huge) }
        for seq in ["0", "-1", "9223372036854775807"] {
            var event = feed.event("rocker-1", seq: 1, kind: "raised")
            event.payload = event.payload.replacingOccurrences(of: "{\"seq\":1,", with: "{\"seq\":\(seq),")
            #expect(throws: ContractMessage.Failure.self, "seq \(seq)") { try ContractMessage.of(event) }
        }
    }

    @Test("the retained status and the last will")
    func status() throws {
        guard case .status(let s) = try ContractMessage.of(feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)])) else {
            Issue.record("not a status"); return
        }
        #expect(s.state == "online" && s.version != nil)
        guard case .status(let will) = try ContractMessage.of(feed.lastWill()) else { Issue.record("not a status"); return }
        #expect(will.state == "offline")
    }

    @Test("a stated store epoch is kept (a later contract version states it)")
    func epoch() throws {
        var message = feed.event("rocker-1", seq: 1, kind: "alarm_raised")
        message.payload = message.payload.replacingOccurrences(of: "{\"seq\":1,", with: "{\"seq\":1,\"epoch\":\"e2\",")
        guard case .records(let r) = try ContractMessage.of(message) else { Issue.record("not records"); return }
        #expect(r.epoch == "e2")
    }

    @Test("device metadata is checked against the fingerprint it names; a changed byte or an empty message says so")
    func deviceMetadata() throws {
        let message = try feed.metadata("rocker-1", profile: "rocking-bag-rb50")
        guard case .deviceMetadata(let m) = try ContractMessage.of(message) else { Issue.record("not metadata"); return }
        #expect(m.site == "site-a" && m.device == "rocker-1" && m.verified && m.fingerprint?.hasPrefix("sha256:") == true)

        var altered = message
        altered.payload = altered.payload.replacingOccurrences(of: "\"unit\":\"Cel\"", with: "\"unit\":\"K\"")
        #expect(altered.payload != message.payload)
        guard case .deviceMetadata(let a) = try ContractMessage.of(altered) else { Issue.record("not metadata"); return }
        #expect(!a.verified && a.fingerprint == m.fingerprint && a.computed != m.fingerprint)

        guard case .deviceMetadata(let cleared) = try ContractMessage.of((message.topic, "")) else { Issue.record("not metadata"); return }
        #expect(cleared.payload == nil)
        #expect(throws: ContractMessage.Failure.self) { try ContractMessage.of((message.topic, "{\"schema\":\"pocare/v1/meta\"}")) }
        // Cut anywhere inside its leading field, a message is refused, never read past its end.
        let lead = message.payload.prefix(100)
        for length in 1..<lead.count {
            #expect(throws: ContractMessage.Failure.self, "\(length) bytes") { try ContractMessage.of((message.topic, String(lead.prefix(length)))) }
        }
    }

    @Test("a published spec is checked by recomputing its fingerprint from the canonical form it carries")
    func specDocument() throws {
        let (message, fingerprint) = try feed.exampleSpecDocument()
        guard case .specDocument(let d) = try ContractMessage.of(message) else { Issue.record("not a spec"); return }
        #expect(d.fingerprint == fingerprint && d.computed == fingerprint && d.verified)

        var altered = message
        altered.payload = altered.payload.replacingOccurrences(of: "37.5", with: "37.9")
        guard case .specDocument(let a) = try ContractMessage.of(altered) else { Issue.record("not a spec"); return }
        #expect(!a.verified && a.fingerprint == fingerprint && a.computed != fingerprint)

        #expect(throws: ContractMessage.Failure.self) { try ContractMessage.of(("pocare/v1/site-a/specs/xyz", message.payload)) }
        // A device named "specs" keeps its telemetry.
        guard case .records = try ContractMessage.of(SiteFeed(site: "site-a").telemetry("specs", 1...1)) else {
            Issue.record("telemetry of a device named specs"); return
        }
    }

    @Test("malformed messages are refused with the reason, naming the site the topic claims")
    func malformed() {
        #expect(throws: ContractMessage.Failure.malformed(
            site: "site-a", topic: "pocare/v1/site-a/rocker-1/telemetry", reason: "not the contract's JSON: ':' expected at byte 5")) {
            try ContractMessage.parse(topic: "pocare/v1/site-a/rocker-1/telemetry", payload: Array("{\"a\" 1}".utf8))
        }
        var wrongSite = feed.telemetry("rocker-1", 1...1)
        wrongSite.topic = "pocare/v1/site-b/rocker-1/telemetry"
        #expect(throws: ContractMessage.Failure.self) { try ContractMessage.of(wrongSite) }
        var short = feed.telemetry("rocker-1", 1...3)
        short.payload = short.payload.replacingOccurrences(of: "\"seq_last\":3", with: "\"seq_last\":4")
        #expect(throws: ContractMessage.Failure.self) { try ContractMessage.of(short) }
        #expect(throws: ContractMessage.Failure.unknownTopic("other/topic")) {
            try ContractMessage.parse(topic: "other/topic", payload: [])
        }
    }

    @Test("a member's value ends where its JSON ends: brackets and quotes inside strings, nesting and escapes do not move it")
    func memberBounds() throws {
        let text = #"{"a":"x]}\"{[","b":[1,{"c":"]\\"},[]],"d":-2.5e3 ,"e":{"f":{"g":"}"}}}"#
        let fields = try JSONFields(Array(text.utf8))
        #expect(fields.raw("a").map { String(decoding: $0, as: UTF8.self) } == #""x]}\"{[""#)
        #expect(fields.raw("b").map { String(decoding: $0, as: UTF8.self) } == #"[1,{"c":"]\\"},[]]"#)
        #expect(fields.raw("d").map { String(decoding: $0, as: UTF8.self) } == "-2.5e3")
        #expect(fields.raw("e").map { String(decoding: $0, as: UTF8.self) } == #"{"f":{"g":"}"}}"#)
        for broken in [#"{"a":"x"#, #"{"a":[1,{"b":2}"#, #"{"a":"x\"}"#, #"{"a":}"#] {
            #expect(throws: JSONFields.Failure.self, "\(broken)") { try JSONFields(Array(broken.utf8)) }
        }
    }

    @Test("JSON strings decode their escapes")
    func strings() {
        #expect(JSONFields.decodeString(Array("\"a\\\"b\\\\c\\n\\u00e9\"".utf8)[...]) == "a\"b\\c\né")
    }
}
