import ControlSiteRecords
import Foundation
import Hashing
import POCareContract
import POCareCore
import SiteStore
import Synchronization
import Testing
import TestSupport

/// The Control Site's key as the tests hold it: the site is given its public key
/// (`control_site.control_site_key`), and a test signs replay requests with it as pocare-control does.
struct ControlSiteTestKey {
    let key: Ed25519.PrivateKey
    let publicKey: Ed25519.PublicKey

    init() throws {
        key = try .generate()
        publicKey = try key.publicKey()
    }

    /// The site configuration's `control_site` words for it.
    var siteConfig: String { "control_site_key: \"\(publicKey)\"" }

    /// The private key in a file of the owner's only, for control.yaml `identity_key`.
    func keyFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("control-identity-\(UUID().uuidString).pem").path
        guard FileManager.default.createFile(atPath: path, contents: Data(key.pem.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }

    /// `text` signed for `site`; text that is not a JSON object goes as it is.
    func signed(_ text: String, site: String = "durability") -> String {
        guard let bytes = try? SignedReplayRequest.sign(Array(text.utf8), site: site, with: key, at: Date()) else { return text }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Publishes one replay request to the site `durability` of the broker at `port`.
func publishReplayRequest(_ text: String, port: Int) -> Int32 {
    runStatus("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", "pocare/v1/durability/replay", "-m", text])
}

/// An impostor publishing replay requests as fast as it likes, through one `mosquitto_pub -l`
/// connection fed from a thread of its own, until stopped. It is stopped with SIGTERM, not by the
/// end of its input: a process another test starts meanwhile may inherit the pipe and hold it open.
final class ReplayRequestFlood: Sendable {
    private let process = Process()
    private let input = Pipe()
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    let sent = Atomic<Int>(0)

    init(port: Int, requests: [String], perTenthOfASecond: Int) throws {
        // A write after mosquitto_pub has gone fails with EPIPE instead of ending the test process.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", "pocare/v1/durability/replay", "-l", "-i", "impostor"]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let descriptor = input.fileHandleForWriting.fileDescriptor
        Thread { [self] in
            var n = 0
            while !stopping.load(ordering: .relaxed) {
                var batch = ""
                for _ in 0..<perTenthOfASecond {
                    batch += requests[n % requests.count].replacingOccurrences(of: "#N", with: "\(n)") + "\n"
                    n += 1
                }
                let bytes = Array(batch.utf8)
                guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else { break }
                sent.add(perTenthOfASecond, ordering: .relaxed)
                usleep(100_000)
            }
            finished.store(true, ordering: .relaxed)
        }.start()
    }

    /// Stops the writer, then the impostor's client; waits a few seconds at most.
    func stop() async {
        stopping.store(true, ordering: .relaxed)
        for _ in 0..<50 where !finished.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(20)) }  // cancelled: stop anyway
        if process.isRunning { process.terminate() }
        for _ in 0..<150 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }  // cancelled: stop anyway
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// A site answers the Control Site's replay requests through a flood of forged ones: the Control
/// Site's requests are told apart by its signature, have a quota of their own, and its gap comes
/// back; the impostor's are refused with the reason, answered only now and then, and never served.
/// The real parts: pocared with its simulator and store, mosquitto, and an impostor client.
@Suite("A site answers the Control Site's replay requests through a flood of forged ones", .serialized)
struct ReplayFloodTests {
    @Test("an impostor publishing 200 requests a second, unsigned and signed with its own key: the Control Site's signed requests are all accepted and served, its gap is recovered, a repeat of a signed request is ignored, and the impostor is refused and answered at most about once a second")
    func controlSiteServedThroughAFlood() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-flood")
        defer { subscriber.stop() }
        let controlSite = try ControlSiteTestKey(), impostorKey = try ControlSiteTestKey()
        let fixture = try DaemonFixture(
            pollInterval: "50ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-flood, \(controlSite.siteConfig) }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let stream = StreamName.telemetry(device: "rocker-1")
        #expect(await waitFor(upTo: .seconds(30)) {
            ((try? StoreReader(path: fixture.storePath).streams())?.first { $0.stream == stream }?.deliveredSeq ?? 0) >= 60
        })
        let epoch = try StoreReader(path: fixture.storePath).epoch()
        func request(_ id: String, _ from: Int64, _ to: Int64) -> String {
            #"{"id":"\#(id)","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":\#(from),"to":\#(to)}"#
        }
        let answers = { payloads(subscriber.output).filter { ($0["schema"] as? String) == "pocare/v1/replay_status" } }
        func answered(_ id: String, _ state: String? = nil) -> [[String: Any]] {
            answers().filter { ($0["request"] as? [String: Any])?["id"] as? String == id && (state == nil || $0["state"] as? String == state) }
        }

        // The impostor: well-formed requests, half unsigned, half signed with a key of its own.
        let forgedSigned = impostorKey.signed(request("forged-signed-#N", 1, 50))
        let flood = try ReplayRequestFlood(port: broker.port, requests: [request("forged-#N", 1, 50), forgedSigned], perTenthOfASecond: 20)
        let floodStart = MonotonicClock.now()
        #expect(await waitFor(upTo: .seconds(20)) { daemon.errors.contains { $0.contains("so_far=100") || $0.contains("so_far: 100") } },
                "the site saw the flood: \(daemon.errors.suffix(5))")

        // The Control Site asks for a range it lacks (its gap) and for a few more, while the flood goes on.
        let ids = ["cs-gap", "cs-2", "cs-3", "cs-4", "cs-5"]
        let ranges: [(Int64, Int64)] = [(11, 30), (31, 35), (36, 40), (41, 45), (46, 50)]
        var gapRequest = ""
        for (id, range) in zip(ids, ranges) {
            let text = controlSite.signed(request(id, range.0, range.1))
            if id == "cs-gap" { gapRequest = text }
            #expect(publishReplayRequest(text, port: broker.port) == 0)
        }
        #expect(await waitFor(upTo: .seconds(20)) { ids.allSatisfy { !answered($0, "done").isEmpty } },
                "\(ids.map { "\($0): \(answered($0).map { "\($0["state"] ?? "-") \($0["reason"] ?? "")" })" })")
        for id in ids {
            #expect(answered(id, "refused").isEmpty, "\(id): \(answered(id))")
            #expect(answered(id, "accepted").count == 1, "\(id)")
        }
        // The gap came back: records 11...30 arrived a second time, as the originals (no chain break).
        let arrivals = {
            Dictionary(grouping: payloads(subscriber.output)
                .filter { ($0["stream"] as? String) == stream.description }
                .flatMap { $0["samples"] as? [[String: Any]] ?? [] }
                .compactMap { ($0["seq"] as? NSNumber)?.int64Value }, by: { $0 }).mapValues(\.count)
        }
        #expect(await waitFor(upTo: .seconds(10)) { (11...50).allSatisfy { (arrivals()[$0] ?? 0) >= 2 } })
        #expect(!subscriber.errors.contains { $0.contains("chain broken") })

        // The same signed request published again (captured by the impostor) is not served again.
        #expect(publishReplayRequest(gapRequest, port: broker.port) == 0)
        // A request after it is answered, so the repeat has been read by then.
        #expect(publishReplayRequest(controlSite.signed(request("cs-after", 51, 52)), port: broker.port) == 0)
        #expect(await waitFor(upTo: .seconds(10)) { !answered("cs-after", "done").isEmpty })
        #expect(answered("cs-gap", "accepted").count == 1, "a repeat spends nothing")

        // The flood lasts until it has sent 200 at least, however quickly the rest went.
        #expect(await waitFor(upTo: .seconds(20)) { flood.sent.load(ordering: .relaxed) >= 200 })
        await flood.stop()
        let floodSeconds = Double(MonotonicClock.now() - floodStart) / 1e9
        // Give the last answers time to arrive before counting them.
        _ = await waitFor(upTo: .seconds(1)) { false }
        let forged = answers().filter { (($0["request"] as? [String: Any])?["id"] as? String)?.hasPrefix("forged-") == true }
        #expect(!forged.isEmpty && forged.allSatisfy { $0["state"] as? String == "refused" }, "never served: \(forged.prefix(3))")
        #expect(forged.contains { ($0["reason"] as? String)?.contains("not signed") == true })
        #expect(forged.contains { ($0["reason"] as? String)?.contains("not the Control Site's key") == true })
        // A budget of 5 answers and one a second: a flood is not answered message for message.
        #expect(Double(forged.count) <= 6 + floodSeconds, "\(forged.count) answers in \(floodSeconds) s")
        #expect(daemon.isRunning)
    }

    @Test("a site configured to answer unsigned requests serves them on a quota of their own, smaller than the Control Site's, and still the Control Site's first")
    func unsignedOnTheirOwnQuota() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-unsigned")
        defer { subscriber.stop() }
        let controlSite = try ControlSiteTestKey()
        let fixture = try DaemonFixture(
            pollInterval: "50ms",
            controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-unsigned, \(controlSite.siteConfig), unsigned_replay: answer }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let stream = StreamName.telemetry(device: "rocker-1")
        #expect(await waitFor(upTo: .seconds(30)) {
            ((try? StoreReader(path: fixture.storePath).streams())?.first { $0.stream == stream }?.deliveredSeq ?? 0) >= 20
        })
        let epoch = try StoreReader(path: fixture.storePath).epoch()
        func request(_ id: String) -> String { #"{"id":"\#(id)","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":5}"# }
        let answers = { payloads(subscriber.output).filter { ($0["schema"] as? String) == "pocare/v1/replay_status" } }
        func states(_ id: String) -> [String] {
            answers().filter { ($0["request"] as? [String: Any])?["id"] as? String == id }.compactMap { $0["state"] as? String }
        }
        // Four unsigned requests at once: the first is served; the others are busy (one queued
        // at a time, two a burst), not refused for want of a signature.
        for n in 1...4 { #expect(publishReplayRequest(request("anyone-\(n)"), port: broker.port) == 0) }
        #expect(publishReplayRequest(controlSite.signed(request("cs-1")), port: broker.port) == 0)
        #expect(await waitFor(upTo: .seconds(15)) { states("cs-1").contains("done") && states("anyone-1").contains("done") })
        let unsigned = (1...4).map { states("anyone-\($0)") }
        #expect(unsigned.filter { $0.contains("accepted") }.count <= 2, "\(unsigned)")
        #expect(unsigned.filter { $0 == ["refused"] }.count >= 2, "\(unsigned)")
        let busy = answers().filter { (($0["request"] as? [String: Any])?["id"] as? String)?.hasPrefix("anyone-") == true && $0["state"] as? String == "refused" }
        #expect(busy.allSatisfy { ($0["reason"] as? String)?.hasPrefix("too many replay requests") == true }, "\(busy)")
        #expect(states("cs-1") == ["accepted", "done"])
    }

    @Test("pocare-control and pocared with their keys, an impostor flooding the site: a gap at the Control Site is asked for, answered and filled, and none of the Control Site's requests is answered busy")
    func controlSiteRecoversAGapThroughAFlood() async throws {
        let database = try TestPostgres()
        let broker = try TestBroker()
        let db = try PostgresConnection(database.postgresConnectionInfo)
        let controlSite = try ControlSiteTestKey(), keyFile = try controlSite.keyFile()
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        func config(_ clientId: String) throws -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString).yaml").path
            try """
                broker: \(broker.url)
                client_id: \(clientId)
                database: "\(database.postgresConnectionInfo)"
                replay_after: 1s
                identity_key: \(keyFile)
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let firstConfig = try config("control-flood-1"), secondConfig = try config("control-flood-2")
        defer {
            try? FileManager.default.removeItem(atPath: firstConfig)
            try? FileManager.default.removeItem(atPath: secondConfig)
        }
        let telemetry = "rocker-1/telemetry"
        func held() -> (contiguous: Int64, highest: Int64) {
            let row = try? db.execute("SELECT contiguous, highest FROM streams WHERE site = 'durability' AND stream = $1", [telemetry])
            return (row?.int(0, 0) ?? 0, row?.int(0, 1) ?? 0)
        }

        // The Control Site stores the site's records for a while, then stops.
        let first = try RunningProcess("pocare-control", ["run", "--config", firstConfig])
        #expect(await waitFor(upTo: .seconds(20)) { first.errors.contains { $0.contains("subscribed") } })
        let fixture = try DaemonFixture(
            pollInterval: "50ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-flood-e2e, \(controlSite.siteConfig) }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(30)) { held().contiguous >= 20 })
        first.stop()
        let stoppedAt = held().highest

        // The impostor floods the site; meanwhile records are published that no session keeps for
        // the next instance (a new client id): the Control Site will have a gap.
        let epoch = try StoreReader(path: fixture.storePath).epoch()
        let forged = #"{"id":"forged-#N","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":100}"#
        let flood = try ReplayRequestFlood(port: broker.port, requests: [forged], perTenthOfASecond: 20)
        #expect(await waitFor(upTo: .seconds(20)) { daemon.errors.contains { $0.contains("so_far=100") } }, "\(daemon.errors.suffix(5))")
        let before = try committedNumbers(fixture.storePath)[telemetry]?.count ?? 0
        #expect(await waitFor(upTo: .seconds(20)) { ((try? committedNumbers(fixture.storePath))?[telemetry]?.count ?? 0) > before + 40 })
        let second = try RunningProcess("pocare-control", ["run", "--config", secondConfig])
        defer { second.stop() }

        // Through the flood, the Control Site asks for what it lacks and gets it: every number held,
        // and the site's answer to the request that covers the first missing number recorded. That
        // request is the gap's when a live record opened the gap first, or the tail's the new
        // instance asks for at start when it comes first: which one depends on timing alone.
        func gapAnswered() -> Bool {
            let done = try? db.execute("""
                SELECT count(*) FROM replay_requests
                WHERE site = 'durability' AND stream = $1 AND requested_by = 'control-flood-2' AND cause IN ('gap', 'tail')
                  AND state = 'done' AND seq_from <= $2 AND seq_to >= $2
                """, [telemetry, String(stoppedAt + 1)])
            return (done?.int(0, 0) ?? 0) >= 1
        }
        let filled = await waitFor(upTo: .seconds(40)) {
            let now = held()
            return now.highest > Int64(before) + 40 && now.contiguous >= now.highest - 5 && gapAnswered()
                && ((try? db.execute("SELECT count(*) FROM gaps WHERE site = 'durability' AND stream = $1", [telemetry]).int(0, 0)) ?? 1) == 0
        }
        await flood.stop()
        let requests = try? db.execute("""
            SELECT requested_by, stream, cause, seq_from, seq_to, state FROM replay_requests WHERE site = 'durability' ORDER BY requested
            """)
        #expect(filled, "held \(held()), stopped at \(stoppedAt), asked \(requests?.rows ?? []): \(second.errors.suffix(8))")
        let asked = try db.execute("""
            SELECT state, count(*) AS n FROM replay_requests WHERE site = 'durability' GROUP BY state ORDER BY state
            """)
        let states = Dictionary(uniqueKeysWithValues: (0..<asked.rowCount).map { (asked.string($0, 0) ?? "", asked.int($0, 1) ?? 0) })
        #expect((states["done"] ?? 0) >= 1, "\(states)")
        // Refused only for what the store is (a stream the birth implies that has no record yet), never
        // for the quota or for want of proof.
        let refusals = try db.execute("SELECT stream, cause, reason FROM replay_requests WHERE state IN ('busy', 'refused')")
        let reasons = (0..<refusals.rowCount).map { refusals.string($0, "reason") ?? "" }
        #expect(states["busy"] == nil && !reasons.contains { $0.hasPrefix("too many") || $0.hasPrefix("not proven") },
                "the Control Site's requests are never answered busy: \(refusals.rows)")
        #expect(daemon.isRunning)
    }
}
