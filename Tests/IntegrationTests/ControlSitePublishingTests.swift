import Foundation
import SiteStore
import POCareContract
import Testing
import TestSupport

/// A spec with short delays, so an excursion raises and clears within seconds.
let fastSpec = minimalSpecForTests
    .replacingOccurrences(of: "profiles: [rocking-bag-rb50]", with: "profiles: [rocking-bag-rb50, stirred-tank-str10]")
    .replacingOccurrences(of: "on_delay: 30s", with: "on_delay: 1s, off_delay: 1s")

let excursionFault = "device=rocker-1 kind=excursion parameter=temperature value=38.4 from=2s to=5s"

func startSubscriber(_ broker: TestBroker, clientId: String, extra: [String] = []) async throws -> RunningProcess {
    let subscriber = try RunningProcess("pocarectl", [
        "subscribe", "--broker", broker.url, "--client-id", clientId, "--json", "--keep-duplicates",
    ] + extra)
    // Subscribed once the broker has sent its SUBACK.
    _ = await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to \(clientId)") }
    return subscriber
}

/// Whether the store holds an event of this kind yet.
func storeHasEvent(_ kind: String, _ storePath: String) -> Bool {
    guard let reader = try? StoreReader(path: storePath), let streams = try? reader.streams() else { return false }
    return streams.contains { state in
        guard case .events = state.stream else { return false }
        return (try? reader.events(stream: state.stream, after: 0, limit: 100_000))?.contains { $0.kind == kind } == true
    }
}

/// Every committed number of every stream, as the store has it now.
func committedNumbers(_ storePath: String) throws -> [String: [Int64]] {
    let reader = try StoreReader(path: storePath)
    var result: [String: [Int64]] = [:]
    for stream in try reader.streams() { result[stream.stream.description] = Array(1...max(1, stream.lastSeq)).filter { _ in stream.lastSeq > 0 } }
    return result
}

/// The first arrival of each number, in arrival order, per stream.
func firstArrivals(_ messages: [[String: Any]]) -> [String: [Int64]] {
    var seen = Set<String>()
    var result: [String: [Int64]] = [:]
    for (stream, numbers) in receivedNumbersInOrder(messages) {
        for n in numbers where seen.insert("\(stream)#\(n)").inserted { result[stream, default: []].append(n) }
    }
    return result
}

func receivedNumbersInOrder(_ messages: [[String: Any]]) -> [(String, [Int64])] {
    messages.compactMap { m in
        guard let stream = m["stream"] as? String else { return nil }
        if let samples = m["samples"] as? [[String: Any]] {
            return (stream, samples.compactMap { ($0["seq"] as? NSNumber)?.int64Value })
        }
        return (m["seq"] as? NSNumber).map { (stream, [$0.int64Value]) }
    }
}

@Suite("Publishing to the Control Site through a real mosquitto broker", .serialized)
struct ControlSitePublishingTests {
    @Test("normal flow: every sample and event of a run arrives, in order, and matches the AsyncAPI contract")
    func normalFlow() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-normal")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-normal }",
            faults: [excursionFault], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        // Let the run go on until the excursion is over and recorded...
        #expect(await waitFor(upTo: .seconds(30)) { storeHasEvent("excursion", fixture.storePath) })
        daemon.stop()
        // ...then the subscriber must have every committed number of every stream.
        let committed = try committedNumbers(fixture.storePath)
        let complete = await waitFor(upTo: .seconds(20)) {
            let got = firstArrivals(payloads(subscriber.output))
            return committed.allSatisfy { Set(got[$0.key] ?? []).isSuperset(of: $0.value) }
        }
        let messages = payloads(subscriber.output)
        let arrivals = firstArrivals(messages)
        #expect(complete, "missing: \(committed.map { ($0.key, Set($0.value).subtracting(arrivals[$0.key] ?? [])) }.filter { !$0.1.isEmpty })")
        for (stream, numbers) in arrivals { #expect(numbers == numbers.sorted(), "\(stream) arrives in order") }
        #expect(committed.keys.contains("rocker-1/telemetry") && committed.keys.contains("rocker-1/events") && committed.keys.contains("audit"))

        let validator = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
        var kinds = Set<String>()
        for message in messages {
            let schemaName = (message["schema"] as? String ?? "").split(separator: "/").last.map(String.init) ?? ""
            let schema = try #require(validator.schema(named: schemaName), "schema for \(message["schema"] ?? "?")")
            #expect(validator.validate(message, against: schema) == [], "\(message)")
            if let event = message["event"] as? [String: Any], let kind = event["kind"] as? String { kinds.insert(kind) }
        }
        #expect(kinds.isSuperset(of: ["batch_started", "raised", "cleared", "excursion"]), "\(kinds)")
        let telemetry = messages.filter { ($0["schema"] as? String) == "pocare/v1/telemetry" }
        #expect(telemetry.allSatisfy { ($0["samples"] as? [[String: Any]])?.allSatisfy { $0["spec"] is String || $0["spec"] is NSNull } == true })
        let status = messages.filter { ($0["schema"] as? String) == "pocare/v1/status" }.compactMap { $0["state"] as? String }
        #expect(status.first == "online" && status.last == "offline", "birth, then offline on shutdown: \(status)")
        #expect(try StoreReader(path: fixture.storePath).streams().allSatisfy { $0.deliveredSeq == $0.lastSeq },
                "every watermark reached the end")
    }

    @Test("outage: with the broker down for 30 s during an excursion, a persistent subscriber still gets every number in order")
    func brokerOutage() async throws {
        // Saved after every change: the broker is stopped with SIGKILL (the test runner's children
        // do not hear SIGTERM), and a once-a-second save could miss what it queued for a lagging
        // subscriber on a busy machine.
        let broker = try TestBroker(extraConfig: "log_type all\nautosave_on_changes true")
        let subscriber = try await startSubscriber(broker, clientId: "qa-outage")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-outage }",
            faults: ["device=rocker-1 kind=excursion parameter=temperature value=38.4 from=6s to=12s"], spec: fastSpec)
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        // Publishing works, then the broker goes away for the whole excursion.
        #expect(await waitFor(upTo: .seconds(20)) { !payloads(subscriber.output).isEmpty })
        broker.stop()
        #expect(await waitFor(upTo: .seconds(60)) { storeHasEvent("excursion", fixture.storePath) })
        let atRestart = try committedNumbers(fixture.storePath)
        try broker.start()
        let complete = await waitFor(upTo: .seconds(60)) {
            let got = firstArrivals(payloads(subscriber.output))
            return atRestart.allSatisfy { Set(got[$0.key] ?? []).isSuperset(of: $0.value) }
        }
        let arrivals = firstArrivals(payloads(subscriber.output))
        #expect(complete, "missing: \(atRestart.map { ($0.key, Set($0.value).subtracting(arrivals[$0.key] ?? []).count) }.filter { $0.1 > 0 })")
        for (stream, numbers) in arrivals {
            #expect(numbers == numbers.sorted(), "\(stream) in order")
            #expect(numbers == Array(1...(numbers.last ?? 1)), "\(stream) has no gaps")
        }
        let kinds = payloads(subscriber.output).compactMap { ($0["event"] as? [String: Any])?["kind"] as? String }
        #expect(kinds.contains("raised") && kinds.contains("excursion"), "the excursion's events arrived: \(kinds)")
        #expect(daemon.errors.contains { $0.contains("cannot reach the Control Site broker") || $0.contains("lost the Control Site broker") })
    }

    @Test("kill -9 during a backlog drain: after a restart nothing is missing, and a duplicate is the same record")
    func crashDuringDrain() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-crash")
        defer { subscriber.stop() }
        // Wait until the broker's once-a-second autosave holds the subscriber's session.
        let subscribed = Date()
        #expect(await waitFor(upTo: .seconds(10)) {
            let saved = try? FileManager.default.attributesOfItem(atPath: broker.directory.appendingPathComponent("mosquitto.db").path)
            return (saved?[.modificationDate] as? Date).map { $0 > subscribed } == true
        })
        broker.stop()
        let fixture = try DaemonFixture(
            pollInterval: "10ms",
            controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-crash, window: 4, telemetry_batch: 5 }",
            spec: fastSpec)
        // Build a backlog while the broker is away, then let the drain start and kill the daemon.
        var daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(30)) { (try? committedNumbers(fixture.storePath))?["rocker-1/telemetry"]?.count ?? 0 >= 200 })
        try broker.start()
        // Kill as soon as the drain has visibly begun (a watermark moved) and is not finished.
        var backlogLeft = false
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let streams = try? StoreReader(path: fixture.storePath).streams(),
                streams.contains(where: { $0.stream.isTelemetry && $0.deliveredSeq > 0 })
            {
                daemon.kill9()
                backlogLeft = try StoreReader(path: fixture.storePath).streams().contains { $0.deliveredSeq < $0.lastSeq }
                break
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        daemon = try fixture.startDaemon()
        // The restarted daemon drains the rest of the backlog.
        _ = await waitFor(upTo: .seconds(30)) {
            (try? StoreReader(path: fixture.storePath).streams())?.allSatisfy { $0.deliveredSeq == $0.lastSeq } == true
        }
        daemon.stop()
        let committed = try committedNumbers(fixture.storePath)
        let complete = await waitFor(upTo: .seconds(30)) {
            let got = firstArrivals(payloads(subscriber.output))
            return committed.allSatisfy { Set(got[$0.key] ?? []).isSuperset(of: $0.value) }
        }
        let arrivals = firstArrivals(payloads(subscriber.output))
        #expect(complete, "missing: \(committed.map { ($0.key, Set($0.value).subtracting(arrivals[$0.key] ?? []).sorted().prefix(10)) }.filter { !$0.1.isEmpty })")
        #expect(backlogLeft, "the kill happened while records were still undelivered")

        // A number that arrived twice carries the same record both times.
        var firstCopy: [String: NSDictionary] = [:]
        var duplicates = 0
        for message in payloads(subscriber.output) {
            guard let stream = message["stream"] as? String else { continue }
            let records: [[String: Any]] = (message["samples"] as? [[String: Any]]) ?? [message]
            for record in records {
                guard let seq = (record["seq"] as? NSNumber)?.int64Value else { continue }
                var comparable = record
                comparable["sent"] = nil
                let key = "\(stream)#\(seq)"
                if let earlier = firstCopy[key] {
                    duplicates += 1
                    #expect(earlier.isEqual(to: comparable), "\(key) repeated with different content")
                } else {
                    firstCopy[key] = comparable as NSDictionary
                }
            }
        }
        print("crash during drain: \(duplicates) duplicate records, all identical to the first copy")
    }
}
