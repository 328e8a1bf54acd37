import ControlSiteRecords
import POCareContract
import ControlSiteLink
import Foundation
import SiteStore
import Testing
import TestSupport

/// pocare-control's replay requests against a real broker and PostgreSQL, with the test as the
/// site: it reads each request from the database and answers with the site's own encoder.
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

    @Test("a persistent gap is asked for; a busy site is asked again; a range the site pruned before the Control Site got it is a permanent finding with its cause")
    func prunedRange() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-replay", extra: "replay_after: 1s")
        defer { instance.stop() }
        try rig.broker.publish([feed.status(devices: [.init(id: "rocker-1", profile: "rocking-bag-rb50", batch: nil, phase: nil, spec: nil)])], retain: true)
        try rig.publish(telemetry(1...40) + telemetry(61...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 80 })

        var first: (id: String, attempt: Int)?
        #expect(try await waitFor(upTo: .seconds(20)) {
            try answerTails(rig)
            first = try request(rig, stream: "rocker-1/telemetry", from: 41)
            return first != nil
        })
        let asked = try #require(first)
        try answer(rig, id: asked.id, from: 41, to: 60, state: "refused", reason: "too many replay requests; ask again later")
        var second: (id: String, attempt: Int)?
        #expect(try await waitFor(upTo: .seconds(20)) {
            try answerTails(rig)
            second = try request(rig, stream: "rocker-1/telemetry", from: 41)
            // Under load the answer may be written after the second request went out: wait for both.
            let state = try rig.database.scalar("SELECT state FROM replay_requests WHERE id = $1", [asked.id])
            return (second?.attempt ?? 0) == 2 && state == "busy"
        }, "a busy site is asked again")

        let again = try #require(second)
        try answer(rig, id: again.id, from: 41, to: 60, state: "refused",
                   reason: "the range was pruned: the store holds rocker-1/telemetry from 61", pruned: 60)
        #expect(try await waitFor(upTo: .seconds(20)) {
            try rig.database.count("SELECT count(*) FROM integrity_findings WHERE kind = 'unrecoverable'") == 1
        })
        let finding = try rig.database.connection.execute(
            "SELECT stream, seq_from, seq_to, detail, resolved IS NULL FROM integrity_findings WHERE kind = 'unrecoverable'")
        #expect(finding.string(0, 0) == "rocker-1/telemetry" && finding.int(0, 1) == 41 && finding.int(0, 2) == 60 && finding.bool(0, 4) == true)
        #expect(finding.string(0, 3)?.contains("pruned at the site") == true, "\(finding.string(0, 3) ?? "")")
        #expect(try rig.database.scalar("SELECT unrecoverable_through FROM streams WHERE stream = 'rocker-1/telemetry'") == "60")

        let integrity = try runCommand("pocare-control", ["integrity", "--database", rig.database.connectionInfo])
        #expect(integrity.status == 1 && integrity.output.contains("unrecoverable") && integrity.output.contains("41...60"), "\(integrity.output)")
    }

    @Test("a gap of a store the site has since replaced cannot be sent: the site's refusal is a permanent finding with its reason")
    func replacedStore() async throws {
        let rig = try ControlSiteRig()
        let instance = try await rig.startInstance(clientId: "control-epoch", extra: "replay_after: 1s")
        defer { instance.stop() }
        try rig.publish(telemetry(1...40) + telemetry(61...100))
        #expect(try await waitFor(upTo: .seconds(30)) { try rig.samples() == 80 })
        var asked: (id: String, attempt: Int)?
        #expect(try await waitFor(upTo: .seconds(20)) {
            asked = try request(rig, stream: "rocker-1/telemetry", from: 41)
            return asked != nil
        })
        let newEpoch = String(repeating: "7a", count: 16)
        try answer(rig, id: try #require(asked).id, from: 41, to: 60, state: "refused",
                   reason: "the store's epoch is \(newEpoch), not \(Self.epoch): its sequence numbers are another series")
        #expect(try await waitFor(upTo: .seconds(20)) {
            try rig.database.count("SELECT count(*) FROM integrity_findings WHERE kind = 'unrecoverable'") == 1
        })
        let detail = try rig.database.scalar(
            "SELECT seq_from || '...' || seq_to || ' ' || detail FROM integrity_findings WHERE kind = 'unrecoverable'") ?? ""
        #expect(detail.hasPrefix("41...60 ") && detail.contains("the site cannot send them: the store's epoch is \(newEpoch)"), "\(detail)")
        #expect(try rig.database.scalar("SELECT state FROM replay_requests WHERE id = $1", [try #require(asked).id]) == "refused")
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
