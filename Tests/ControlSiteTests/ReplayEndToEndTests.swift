import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import SiteStore
import Testing
import TestSupport
import Hashing

/// pocare-control's replay requests against a real broker and PostgreSQL, with the test as the
/// site: it reads each request from the database and answers with the site's own encoder.
/// Replay answers are not signed: anything publishing on the broker can write one, so the test
/// writing an answer stands for an impostor as well as the site; only the site's key can sign
/// the checkpoint that confirms an answer.
@Suite("pocare-control asks sites to replay, through a real broker", .serialized)
struct ReplayEndToEndTests {
    static let epoch = String(repeating: "3f", count: 16)
    let feed = SiteFeed(site: "site-a", epoch: ReplayEndToEndTests.epoch)

    func telemetry(_ range: ClosedRange<Int64>) -> [SiteFeed.Message] {
        stride(from: range.lowerBound, through: range.upperBound, by: 20).map { feed.telemetry("rocker-1", $0...min($0 + 19, range.upperBound)) }
    }

    /// The newest request for the gap `from...` of the stream: its id and attempt. A tail request
    /// can start at the same number (asked while only the records before the gap had arrived).
    func request(_ rig: ControlSiteRig, stream: String, from: Int64) throws -> (id: String, attempt: Int)? {
        let row = try rig.database.connection.execute("""
            SELECT id, attempt FROM replay_requests WHERE stream = $1 AND seq_from = $2 AND cause = 'gap'
            ORDER BY requested DESC LIMIT 1
            """, [stream, String(from)])
        guard row.rowCount == 1, let id = row.string(0, 0) else { return nil }
        return (id, Int(row.int(0, 1) ?? 0))
    }

    func answer(_ rig: ControlSiteRig, id: String, stream: String = "rocker-1/telemetry", from: Int64, to: Int64, state: String,
                reason: String?, pruned: Int64? = nil) throws {
        let request = ReplayRequest(id: id, stream: StreamName(stream)!, epoch: Self.epoch, from: from, to: to)
        let payload = Contract.replayStatus(site: "site-a", epoch: Self.epoch, request: request, state: state, reason: reason, prunedThrough: pruned)
        try rig.broker.publish([("pocare/v1/site-a/replay/status", String(decoding: payload, as: UTF8.self))])
    }

    /// Answers the tail requests made so far as a site holding nothing more would.
    func answerTails(_ rig: ControlSiteRig) throws {
        let tails = try rig.database.connection.execute(
            "SELECT id, stream, seq_from, seq_to FROM replay_requests WHERE cause = 'tail' AND state = 'sent'")
        for r in 0..<tails.rowCount {
            try answer(rig, id: tails.string(r, 0)!, stream: tails.string(r, 1)!, from: tails.int(r, 2)!, to: tails.int(r, 3)!,
                       state: "refused", reason: "not committed yet: the last record of \(tails.string(r, 1)!) is \(tails.int(r, 2)! - 1)")
        }
    }

    static let rocker = Contract.DeviceStatus(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)

    /// An instance that takes site-a by its key, site-a's signed birth, and records 1...40 and
    /// 61...100 of rocker-1: the gap 41...60 is to be asked for.
    func keyedSiteWithGap(_ rig: ControlSiteRig, clientId: String) async throws -> (SignedSite, SpawnedProcess) {
        let site = try SignedSite(feed)
        let instance = try await rig.startInstance(clientId: clientId, extra: "replay_after: 1s\n" + site.register)
        try rig.broker.publish([try site.status(devices: [Self.rocker])], retain: true)
        try rig.publish(telemetry(1...40) + telemetry(61...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 80 })
        return (site, instance)
    }

    /// The gap request for 41... once the site's tails are answered.
    func gapRequest(_ rig: ControlSiteRig, attempt: Int = 1) async throws -> (id: String, attempt: Int) {
        var asked: (id: String, attempt: Int)?
        _ = try await waitFor(upTo: .seconds(30)) {
            try answerTails(rig)
            asked = try request(rig, stream: "rocker-1/telemetry", from: 41)
            return (asked?.attempt ?? 0) >= attempt
        }
        return try #require(asked, "the gap 41...60 is asked for (attempt \(attempt))")
    }

    func findings(_ rig: ControlSiteRig, _ kind: String) throws -> Int {
        try rig.database.count("SELECT count(*) FROM integrity_findings WHERE kind = '\(kind)' AND resolved IS NULL")
    }

    @Test("a persistent gap is asked for; a busy site is asked again; a range the site says it pruned is lost for good only once its signed checkpoint confirms the prune")
    func prunedRange() async throws {
        let rig = try ControlSiteRig()
        let (site, instance) = try await keyedSiteWithGap(rig, clientId: "control-replay")
        defer { instance.stop() }

        let asked = try await gapRequest(rig)
        try answer(rig, id: asked.id, from: 41, to: 60, state: "refused", reason: "too many replay requests; ask again later")
        var second: (id: String, attempt: Int)?
        #expect(try await waitFor(upTo: .seconds(60)) {
            try answerTails(rig)
            second = try request(rig, stream: "rocker-1/telemetry", from: 41)
            // Under load the answer may be written after the second request went out: wait for both.
            let state = try rig.database.scalar("SELECT state FROM replay_requests WHERE id = $1", [asked.id])
            return (second?.attempt ?? 0) == 2 && state == "busy"
        }, "a busy site is asked again")

        let again = try #require(second)
        try answer(rig, id: again.id, from: 41, to: 60, state: "refused",
                   reason: "the range was pruned: the store holds rocker-1/telemetry from 61", pruned: 60)
        #expect(try await waitFor(upTo: .seconds(60)) { try findings(rig, "unconfirmed_claim") == 1 })
        #expect(try findings(rig, "unrecoverable") == 0, "the answer alone is not the site's word")

        // The site's signed checkpoint states what its store pruned.
        try rig.broker.publish([try site.checkpoint(seq: 1, epoch: Self.epoch, chains: [
            .init(stream: "rocker-1/telemetry", seq: 100, hash: String(repeating: "ab", count: 32), prunedThrough: 60),
        ])])
        #expect(try await waitFor(upTo: .seconds(60)) { try findings(rig, "unrecoverable") == 1 })
        let finding = try rig.database.connection.execute(
            "SELECT stream, seq_from, seq_to, detail, resolved IS NULL AS open FROM integrity_findings WHERE kind = 'unrecoverable'")
        #expect(finding.string(0, "stream") == "rocker-1/telemetry" && finding.int(0, "seq_from") == 41 && finding.int(0, "seq_to") == 60)
        #expect(finding.bool(0, "open") == true)
        #expect(finding.string(0, "detail")?.contains("pruned at the site") == true, "\(finding.string(0, "detail") ?? "")")
        #expect(try rig.database.scalar("SELECT unrecoverable_through FROM streams WHERE stream = 'rocker-1/telemetry'") == "60")
        #expect(try findings(rig, "unconfirmed_claim") == 0, "the claim is settled by the checkpoint")

        let integrity = try runCommand("pocare-control", ["integrity", "--database", rig.database.connectionInfo])
        #expect(integrity.status == 1 && integrity.output.contains("unrecoverable") && integrity.output.contains("41...60"), "\(integrity.output)")
    }

    @Test("a forged 'pruned' answer leaves the gap open: it is a finding, the range is asked for again, and the real records are recovered")
    func forgedPrune() async throws {
        let rig = try ControlSiteRig()
        let (site, instance) = try await keyedSiteWithGap(rig, clientId: "control-forged")
        defer { instance.stop() }

        // An impostor on the broker answers the request before the site does.
        let asked = try await gapRequest(rig)
        try answer(rig, id: asked.id, from: 41, to: 60, state: "refused",
                   reason: "the range was pruned: the store holds rocker-1/telemetry from 61", pruned: 60)
        #expect(try await waitFor(upTo: .seconds(60)) { try findings(rig, "unconfirmed_claim") == 1 })
        // The site's own checkpoint says nothing was pruned; one signed by another key is not the site's.
        let forger = try Ed25519.PrivateKey.generate()
        try rig.broker.publish([
            try site.checkpoint(seq: 1, epoch: Self.epoch, chains: [.init(stream: "rocker-1/telemetry", seq: 100, hash: String(repeating: "ab", count: 32))]),
            try site.checkpoint(seq: 2, epoch: Self.epoch, chains: [
                .init(stream: "rocker-1/telemetry", seq: 100, hash: String(repeating: "ab", count: 32), prunedThrough: 60),
            ], signer: forger),
        ])
        #expect(try await waitFor(upTo: .seconds(60)) { try rig.database.count("SELECT count(*) FROM site_checkpoints") == 2 })

        let retry = try await gapRequest(rig, attempt: 2)
        #expect(retry.attempt >= 2, "the gap is asked for again")
        #expect(try findings(rig, "unrecoverable") == 0)
        #expect(try rig.database.scalar("SELECT unrecoverable_through FROM streams WHERE stream = 'rocker-1/telemetry'") == "0")
        #expect(try rig.database.scalar("SELECT state FROM replay_requests WHERE id = $1", [asked.id]) == "unconfirmed")

        // The site replays what it still holds.
        try rig.publish(telemetry(41...60))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 100 })
        #expect(try await waitFor(upTo: .seconds(10)) {
            try rig.database.count("SELECT count(*) FROM gaps WHERE stream = 'rocker-1/telemetry'") == 0
        })
        #expect(try findings(rig, "unrecoverable") == 0)
        #expect(try rig.database.scalar("SELECT contiguous FROM streams WHERE stream = 'rocker-1/telemetry'") == "100")
    }

    @Test("a gap of a store the site says it replaced is lost for good only once a checkpoint it signed under the new epoch confirms the new store")
    func replacedStore() async throws {
        let rig = try ControlSiteRig()
        let (site, instance) = try await keyedSiteWithGap(rig, clientId: "control-epoch")
        defer { instance.stop() }
        let asked = try await gapRequest(rig)
        let newEpoch = String(repeating: "7a", count: 16)
        try answer(rig, id: asked.id, from: 41, to: 60, state: "refused",
                   reason: "the store's epoch is \(newEpoch), not \(Self.epoch): its sequence numbers are another series")
        #expect(try await waitFor(upTo: .seconds(60)) { try findings(rig, "unconfirmed_claim") == 1 })
        #expect(try findings(rig, "unrecoverable") == 0)
        #expect(try rig.database.scalar("SELECT state FROM replay_requests WHERE id = $1", [asked.id]) == "unconfirmed")

        try rig.broker.publish([try site.checkpoint(seq: 1, epoch: newEpoch, chains: [
            .init(stream: "site/events", seq: 1, hash: String(repeating: "cd", count: 32)),
        ])])
        #expect(try await waitFor(upTo: .seconds(60)) { try findings(rig, "unrecoverable") == 1 })
        let detail = try rig.database.scalar(
            "SELECT seq_from || '...' || seq_to || ' ' || detail FROM integrity_findings WHERE kind = 'unrecoverable'") ?? ""
        #expect(detail.hasPrefix("41...60 ") && detail.contains("the site cannot send them: the store's epoch is \(newEpoch)"), "\(detail)")
        #expect(detail.contains("signed under epoch \(newEpoch)"), "\(detail)")
    }

    @Test("two instances on a shared subscription ask a site for each range once, one request a second at most, three unanswered at most")
    func twoInstancesDoNotFlood() async throws {
        let rig = try ControlSiteRig()
        let a = try await rig.startInstance(clientId: "control-a", shared: "control", extra: "replay_after: 1s")
        let b = try await rig.startInstance(clientId: "control-b", shared: "control", extra: "replay_after: 1s")
        defer {
            a.stop()
            b.stop()
        }
        try rig.broker.publish([feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)])], retain: true)
        try rig.publish(telemetry(1...40) + telemetry(61...100))
        // The gap and the tails of the birth's four streams are to be asked for, whichever
        // instance does it; the site answers nothing, so three requests are all it gets.
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.database.count("SELECT count(*) FROM replay_requests") >= 3 })
        try await Task.sleep(for: .seconds(3))
        #expect(try rig.database.count("SELECT count(*) FROM replay_requests") == 3)
        #expect(try rig.database.count("""
            SELECT count(*) FROM (SELECT 1 FROM replay_requests GROUP BY stream, seq_from, attempt HAVING count(*) > 1) twice
            """) == 0)
        let closest = try rig.database.scalar("""
            SELECT min(extract(epoch FROM requested - previous)) FROM (
                SELECT requested, lag(requested) OVER (ORDER BY requested) AS previous FROM replay_requests WHERE site = 'site-a') r
            """)
        #expect((closest.flatMap(Double.init) ?? 0) >= 1, "requests to one site at least a second apart: \(closest ?? "none")")
    }
}
