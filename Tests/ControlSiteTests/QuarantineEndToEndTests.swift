import ControlSiteLink
import ControlSiteRecords
import Foundation
import Hashing
import POCareContract
import Testing
import TestSupport

/// Implausible input is quarantined, not trusted: pocare-control against a real broker and
/// PostgreSQL, fed what an attacker on the broker could publish.
@Suite("pocare-control quarantines implausible input, through a real broker", .serialized)
struct QuarantineEndToEndTests {
    static let epoch = String(repeating: "3f", count: 16)
    static let otherEpoch = String(repeating: "7a", count: 16)
    let feed = SiteFeed(site: "site-a", epoch: QuarantineEndToEndTests.epoch)

    func telemetry(_ feed: SiteFeed, _ range: ClosedRange<Int64>, batch: String? = nil) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: 20).map {
            feed.telemetry("rocker-1", $0...min($0 + 19, range.upperBound), batch: batch)
        }
    }

    func rocker(batch: String? = nil, meta: String? = nil) -> Contract.DeviceStatus {
        Contract.DeviceStatus(id: "rocker-1", profile: "rocking-bag-rb50", batch: batch, phase: nil, spec: nil, meta: meta)
    }

    func openFindings(_ rig: ControlSiteRig, _ kind: String, stream: String? = nil) throws -> Int {
        try rig.database.count("""
            SELECT count(*) FROM integrity_findings WHERE kind = '\(kind)' AND resolved IS NULL \(stream.map { "AND stream = '\($0)'" } ?? "")
            """)
    }

    /// Telemetry record `seq` of rocker-1 as the site would send it, but numbered `forged`.
    func renumbered(_ seq: Int64, as forged: Int64) -> SiteFeed.Message {
        let real = feed.telemetry("rocker-1", seq...seq)
        return (real.topic, real.payload
            .replacingOccurrences(of: "\"seq_first\":\(seq),\"seq_last\":\(seq)", with: "\"seq_first\":\(forged),\"seq_last\":\(forged)")
            .replacingOccurrences(of: "{\"seq\":\(seq),", with: "{\"seq\":\(forged),"))
    }

    @Test("a record numbered 9 x 10^15 is quarantined with its facts: no gap opens, the stream goes on, QA sees it in integrity")
    func sequenceJump() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-jump", extra: "replay_after: 1s")
        defer { instance.stop() }
        try rig.broker.publish([feed.status(devices: [rocker()])], retain: true)
        try rig.publish(telemetry(feed, 1...40))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 40 })

        let forged: Int64 = 9_000_000_000_000_000
        try rig.publish([renumbered(41, as: forged)])
        #expect(try await waitFor(upTo: .seconds(20)) { try openFindings(rig, "quarantined") == 1 })
        try rig.publish(telemetry(feed, 41...60))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 60 })

        #expect(try rig.database.scalar("SELECT highest FROM streams WHERE stream = 'rocker-1/telemetry'") == "60")
        #expect(try rig.database.scalar("SELECT contiguous FROM streams WHERE stream = 'rocker-1/telemetry'") == "60")
        #expect(try rig.database.count("SELECT count(*) FROM gaps") == 0, "no gap opens")
        #expect(try openFindings(rig, "gap") == 0)
        #expect(try rig.database.count("SELECT count(*) FROM samples WHERE seq > 60") == 0)
        #expect(try rig.database.count("SELECT count(*) FROM replay_requests WHERE seq_to >= \(forged)") == 0)
        let held = try rig.database.connection.execute(
            "SELECT seq, record FROM records_set_aside WHERE reason = 'sequence_jump' AND stream = 'rocker-1/telemetry'")
        #expect(held.rowCount == 1 && held.int(0, "seq") == forged && held.string(0, "record")?.contains("\(forged)") == true)
        let finding = try rig.database.connection.execute(
            "SELECT seq_from, detail FROM integrity_findings WHERE kind = 'quarantined'")
        #expect(finding.int(0, "seq_from") == forged)
        #expect(finding.string(0, "detail")?.contains("max_sequence_jump is 1000000") == true, "\(finding.string(0, "detail") ?? "")")

        let integrity = try runCommand("pocare-control", ["integrity", "--database", rig.database.connectionInfo])
        #expect(integrity.output.contains("quarantined") && integrity.output.contains("\(forged)"), "\(integrity.output)")
    }

    /// Answers the tail requests made so far, but `keep`'s, as a site holding nothing more would:
    /// a site serves three unanswered requests at most, so the test's site answers.
    func answerTails(_ rig: ControlSiteRig, but keep: (epoch: String, stream: String)) throws {
        let tails = try rig.database.connection.execute(
            "SELECT id, epoch, stream, seq_from, seq_to FROM replay_requests WHERE cause = 'tail' AND state = 'sent'")
        for r in 0..<tails.rowCount {
            guard let id = tails.string(r, "id"), let epoch = tails.string(r, "epoch"), let name = tails.string(r, "stream"),
                let stream = StreamName(name), let from = tails.int(r, "seq_from"), let to = tails.int(r, "seq_to"),
                (epoch, name) != keep
            else { continue }
            let request = ReplayRequest(id: id, stream: stream, epoch: epoch, from: from, to: to)
            let payload = Contract.replayStatus(site: "site-a", epoch: epoch, request: request, state: "refused",
                                                reason: "not committed yet: the last record of \(name) is \(from - 1)", prunedThrough: nil)
            try rig.broker.publish([("pocare/v1/site-a/replay/status", String(decoding: payload, as: UTF8.self))])
        }
    }

    @Test("records under a new epoch of a keyed site are held until a checkpoint the site signed names the epoch; then the epoch is asked for and taken")
    func newEpochHeldUntilSigned() async throws {
        let rig = try ControlSiteRig()
        let site = try SignedSite(feed)
        let instance = try await rig.startInstance(clientId: "control-epoch-held", extra: "replay_after: 1s\n" + site.register)
        defer { instance.stop() }
        try rig.broker.publish([try site.status(devices: [rocker()])], retain: true)
        try rig.publish(telemetry(feed, 1...40))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 40 })

        // Records under another epoch, from anyone on the broker: held, not a stream.
        var other = feed
        other.epoch = Self.otherEpoch
        try rig.publish(telemetry(other, 1...20))
        #expect(try await waitFor(upTo: .seconds(20)) {
            try rig.database.count("SELECT count(*) FROM records_set_aside WHERE reason = 'unconfirmed_epoch'") == 1
        })
        #expect(try openFindings(rig, "quarantined", stream: "rocker-1/telemetry") == 1)
        #expect(try rig.samples() == 40)
        #expect(try rig.database.count("SELECT count(*) FROM streams WHERE epoch = '\(Self.otherEpoch)'") == 0)
        #expect(try openFindings(rig, "epoch_change") == 0)

        // The site's store was really replaced: its signed birth and checkpoint under the new epoch.
        try rig.broker.publish([try site.status(devices: [rocker()], epoch: Self.otherEpoch)], retain: true)
        try rig.broker.publish([try site.checkpoint(seq: 1, epoch: Self.otherEpoch, chains: [
            .init(stream: "site/events", seq: 1, hash: String(repeating: "cd", count: 32)),
        ])])
        #expect(try await waitFor(upTo: .seconds(20)) { try openFindings(rig, "quarantined") == 0 }, "the hold is released")
        // The new epoch's streams are asked for from their start; the site sends what was held.
        #expect(try await waitFor(upTo: .seconds(30)) {
            try answerTails(rig, but: (Self.otherEpoch, "rocker-1/telemetry"))
            return try rig.database.count("""
                SELECT count(*) FROM replay_requests WHERE epoch = '\(Self.otherEpoch)' AND stream = 'rocker-1/telemetry' AND seq_from = 1
                """) == 1
        }, "the new epoch's telemetry is asked for from 1")
        try rig.publish(telemetry(other, 1...20))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 60 })
        #expect(try rig.database.scalar(
            "SELECT highest FROM streams WHERE epoch = '\(Self.otherEpoch)' AND stream = 'rocker-1/telemetry'") == "20")
    }

    @Test("a forged retained status with another epoch does not make a restart ask for replays under that epoch")
    func forgedEpochStatus() async throws {
        let rig = try ControlSiteRig()
        // The first run asks nothing, so every request below is the restarted instance's.
        var instance = try await rig.startInstance(clientId: "control-forged-epoch", extra: "replay_after: off")
        try rig.broker.publish([feed.status(devices: [rocker()])], retain: true)
        try rig.publish(telemetry(feed, 1...40) + telemetry(feed, 61...80))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 60 })
        instance.stop()

        var forged = feed
        forged.epoch = Self.otherEpoch
        try rig.broker.publish([forged.status(devices: [rocker()])], retain: true)
        instance = try await rig.startInstance(clientId: "control-forged-epoch", extra: "replay_after: 1s")
        defer { instance.stop() }
        #expect(try await waitFor(upTo: .seconds(20)) {
            try rig.database.scalar("SELECT status->>'epoch' FROM sites WHERE site = 'site-a'") == Self.otherEpoch
        })
        // The real gap of the real epoch is asked for; nothing under the status's epoch is.
        #expect(try await waitFor(upTo: .seconds(30)) {
            try rig.database.count("SELECT count(*) FROM replay_requests WHERE epoch = '\(Self.epoch)' AND seq_from = 41") == 1
        })
        try await Task.sleep(for: .seconds(3))
        #expect(try rig.database.count("SELECT count(*) FROM replay_requests WHERE epoch = '\(Self.otherEpoch)'") == 0)
    }

    /// The device's metadata with `unit` of its temperature changed, its fingerprint recomputed.
    func metadata(unit: String) throws -> (message: SiteFeed.Message, fingerprint: String) {
        let real = try feed.metadata("rocker-1", profile: "rocking-bag-rb50")
        guard let comma = real.payload.firstIndex(of: ",") else { throw TestFailure("metadata without fields") }
        let body = real.payload[real.payload.index(after: comma)...].replacingOccurrences(of: "\"unit\":\"Cel\"", with: "\"unit\":\"\(unit)\"")
        let fingerprint = "sha256:" + SHA256.hex(body)
        return ((real.topic, "{\"fingerprint\":\"\(fingerprint)\"," + body), fingerprint)
    }

    func temperatureUnit(_ rig: ControlSiteRig) throws -> String? {
        // As the pages read it.
        try rig.database.scalar("""
            SELECT p->>'unit' FROM device_metadata m, jsonb_array_elements(m.metadata->'parameters') p
            WHERE m.site = 'site-a' AND m.device = 'rocker-1' AND p->>'id' = 'temperature'
            """)
    }

    @Test("forged metadata changing Cel to [degF] during a batch is held as a finding; pages keep Cel until a status the site signed names it")
    func forgedMetadataChange() async throws {
        let rig = try ControlSiteRig()
        let site = try SignedSite(feed)
        let instance = try await rig.startInstance(clientId: "control-meta", extra: site.register)
        defer { instance.stop() }
        let genuine = try metadata(unit: "Cel")
        try rig.broker.publish([genuine.message], retain: true)
        try rig.broker.publish([try site.status(devices: [rocker(batch: "B1", meta: genuine.fingerprint)])], retain: true)
        try rig.publish(telemetry(feed, 1...20, batch: "B1"))
        #expect(try await waitFor(upTo: .seconds(30)) {
            try rig.samples() == 20 && rig.database.scalar("SELECT batch FROM site_devices WHERE device = 'rocker-1'") == "B1"
        })
        #expect(try temperatureUnit(rig) == "Cel")

        let forged = try metadata(unit: "[degF]")
        try rig.broker.publish([forged.message], retain: true)
        #expect(try await waitFor(upTo: .seconds(20)) { try openFindings(rig, "quarantined", stream: "rocker-1/meta") == 1 })
        let detail = try rig.database.scalar("SELECT detail FROM integrity_findings WHERE kind = 'quarantined'") ?? ""
        #expect(detail.contains("temperature: unit Cel to [degF]") && detail.contains("batch B1"), "\(detail)")
        #expect(try temperatureUnit(rig) == "Cel", "pages keep the batch's units")
        #expect(try rig.database.scalar("SELECT fingerprint FROM held_metadata WHERE confirmed IS NULL") == forged.fingerprint)
        let integrity = try runCommand("pocare-control", ["integrity", "--database", rig.database.connectionInfo])
        #expect(integrity.output.contains("quarantined") && integrity.output.contains("[degF]"), "\(integrity.output)")

        // A status naming it that the site did not sign changes nothing.
        try rig.broker.publish([feed.status(devices: [rocker(batch: "B1", meta: forged.fingerprint)])], retain: true)
        #expect(try await waitFor(upTo: .seconds(20)) {
            try rig.database.count("SELECT count(*) FROM records_set_aside WHERE reason = 'unsigned_status'") >= 1
        })
        #expect(try temperatureUnit(rig) == "Cel")

        // The site's own signed status names the new metadata: it is the site's, and applied.
        try rig.broker.publish([try site.status(devices: [rocker(batch: "B1", meta: forged.fingerprint)])], retain: true)
        #expect(try await waitFor(upTo: .seconds(20)) { try temperatureUnit(rig) == "[degF]" })
        #expect(try openFindings(rig, "quarantined") == 0)
    }
}
