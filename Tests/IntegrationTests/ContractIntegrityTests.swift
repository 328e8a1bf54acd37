import Foundation
import Hashing
import SiteStore
import POCareContract
import Testing
import TestSupport

/// Every record message carries its store's epoch and its chain hashes; the reference consumer
/// checks continuity per stream and notices a replaced store.
@Suite("Integrity on the wire through a real mosquitto broker", .serialized)
struct ContractIntegrityTests {
    @Test("epoch and chain hashes on the wire; pocarectl subscribe names a rewritten chain and a replaced store")
    func chainAndEpoch() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-chain")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-chain }")
        var daemon = try fixture.startDaemon()
        let telemetryArrived = { (messages: [[String: Any]], count: Int) in
            messages.filter { ($0["stream"] as? String) == "rocker-1/telemetry" }.count >= count
        }
        #expect(await waitFor(upTo: .seconds(30)) { telemetryArrived(payloads(subscriber.output), 5) })
        daemon.stop()
        _ = await waitFor(upTo: .seconds(10)) {
            (try? StoreReader(path: fixture.storePath).streams())?.allSatisfy { $0.deliveredSeq == $0.lastSeq } == true
        }

        // What arrived carries the store's epoch, and the hashes the store holds.
        let reader = try StoreReader(path: fixture.storePath)
        let epoch = try reader.epoch()
        let stored = try reader.samples(stream: .telemetry(device: "rocker-1"), after: 0, limit: 100_000)
        let messages = payloads(subscriber.output)
        let records = messages.filter { $0["stream"] != nil }
        #expect(!records.isEmpty && records.allSatisfy { ($0["epoch"] as? String) == epoch }, "every record message names epoch \(epoch)")
        let births = messages.filter { ($0["schema"] as? String) == "pocare/v1/status" && ($0["state"] as? String) == "online" }
        #expect(!births.isEmpty && births.allSatisfy { ($0["epoch"] as? String) == epoch })
        var wireHashes: [Int64: String] = [:]
        for message in records where (message["stream"] as? String) == "rocker-1/telemetry" {
            for sample in message["samples"] as? [[String: Any]] ?? [] {
                if let seq = (sample["seq"] as? NSNumber)?.int64Value, let hash = sample["hash"] as? String { wireHashes[seq] = hash }
            }
        }
        #expect(!stored.isEmpty && stored.allSatisfy { wireHashes[$0.seq] == $0.hash })
        // Values as a reader expects them: an enumerated value as its label, a float32 in its
        // shortest form (the wire's text is that of the float32).
        let samples = records.filter { ($0["stream"] as? String) == "rocker-1/telemetry" }
            .flatMap { $0["samples"] as? [[String: Any]] ?? [] }
        // A poll that timed out on a busy machine has null values: only values read are checked.
        let phases = samples.compactMap { ($0["values"] as? [String: Any])?["phase"] }.filter { !($0 is NSNull) }
        #expect(!phases.isEmpty && phases.allSatisfy { ["none", "activation", "transduction", "expansion", "harvest"].contains($0 as? String ?? "") },
                "\(phases.prefix(3))")
        let states = samples.compactMap { ($0["values"] as? [String: Any])?["status"] }.filter { !($0 is NSNull) }
        #expect(states.allSatisfy { $0 is String }, "\(states.prefix(3))")
        let rawTelemetry = subscriber.output.filter { $0.contains("\"stream\":\"rocker-1/telemetry\"") }
        let temperatures = rawTelemetry.flatMap { line in
            line.components(separatedBy: "\"temperature\":").dropFirst().map { String($0.prefix { $0 != "," && $0 != "}" }) }
        }.filter { $0 != "null" }
        #expect(!temperatures.isEmpty)
        for text in temperatures {
            let value = try #require(Double(text), "\(text)")
            #expect(text == "\(Float(value))" || text == "\(Int(value))", "float32 shortest form: \(text)")
        }
        let firstTelemetry = records.first { ($0["stream"] as? String) == "rocker-1/telemetry" }
        #expect((firstTelemetry?["previous_hash"] as? String) == RecordChain.genesis)
        #expect(!subscriber.errors.contains { $0.contains("chain broken") })

        // Someone rewrites the last delivered sample and the chain's head (as a forger who
        // recomputes hashes would): the next sample published is chained on the forged hash.
        let last = try #require(stored.last)
        let forged = String(repeating: "ab", count: 32)
        #expect(runStatus("/usr/bin/sqlite3", [fixture.storePath, """
            UPDATE samples SET hash = '\(forged)' WHERE stream = 'rocker-1/telemetry' AND seq = \(last.seq);
            UPDATE streams SET head_hash = '\(forged)' WHERE stream = 'rocker-1/telemetry';
            """]) == 0)
        daemon = try fixture.startDaemon()
        let broken = await waitFor(upTo: .seconds(30)) {
            subscriber.errors.contains { $0.contains("chain broken") && $0.contains("rocker-1/telemetry at \(last.seq + 1)") }
        }
        #expect(broken, "\(subscriber.errors.suffix(10))")
        daemon.stop()

        // The store is lost and made anew: the consumer hears of a new epoch, not of a gap or a break.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.storePath + suffix) }
        let before = payloads(subscriber.output).count
        daemon = try fixture.startDaemon()
        let replaced = await waitFor(upTo: .seconds(30)) { subscriber.errors.contains { $0.contains("new epoch") } }
        #expect(replaced, "\(subscriber.errors.suffix(10))")
        #expect(await waitFor(upTo: .seconds(30)) { telemetryArrived(Array(payloads(subscriber.output).dropFirst(before)), 2) })
        daemon.stop()
        let newEpoch = try StoreReader(path: fixture.storePath).epoch()
        #expect(newEpoch != epoch)
        #expect(subscriber.errors.contains { $0.contains("new epoch") && $0.contains(newEpoch) })
        let breaks = subscriber.errors.filter { $0.contains("chain broken") }
        #expect(breaks.count == 1, "only the forged link is reported: \(breaks)")
    }

    @Test("device metadata and specs stay retained: a consumer that connects later reads them, and a reload with another profile replaces the metadata")
    func retainedMetadataAndSpecs() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-meta }")
        var daemon = try fixture.startDaemon()
        #expect(await waitFor(upTo: .seconds(30)) {
            (try? StoreReader(path: fixture.storePath).streams())?.contains { $0.stream.isTelemetry && $0.deliveredSeq > 0 } == true
        })
        daemon.stop()
        let specFingerprint = try #require(try StoreReader(path: fixture.storePath).batches().first?.spec)

        // A consumer that connects after the site has gone gets everything from the retained messages.
        let late = try await startSubscriber(broker, clientId: "qa-late", extra: ["--clean"])
        defer { late.stop() }
        let metaOf = { (lines: [String], device: String) -> [String] in
            lines.filter { $0.hasPrefix("{\"fingerprint\"") && $0.contains("\"device\":\"\(device)\"") }
        }
        #expect(await waitFor(upTo: .seconds(10)) {
            !metaOf(late.output, "rocker-1").isEmpty && !metaOf(late.output, "str-1").isEmpty
                && late.output.contains { $0.contains("\"schema\":\"pocare/v1/spec\"") }
        })
        let validator = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
        for message in payloads(late.output) {
            let name = (message["schema"] as? String ?? "").split(separator: "/").last.map(String.init) ?? ""
            let schema = try #require(validator.schema(named: name))
            #expect(validator.validate(message, against: schema) == [], "\(message)")
        }
        let rockerLine = try #require(metaOf(late.output, "rocker-1").last)
        let rocker = try #require(payloads([rockerLine]).first)
        // The fingerprint is SHA-256 over the bytes after the fingerprint field.
        let prefix = "{\"fingerprint\":\"\(rocker["fingerprint"] as? String ?? "")\","
        #expect(rockerLine.hasPrefix(prefix))
        #expect(!late.errors.contains { $0.contains("does not hash") }, "the reference consumer verified the metadata")
        #expect(rocker["fingerprint"] as? String == "sha256:" + SHA256.hex(String(rockerLine.dropFirst(prefix.count))))
        let parameters = rocker["parameters"] as? [[String: Any]] ?? []
        let temperature = parameters.first { $0["id"] as? String == "temperature" }
        #expect(temperature?["unit"] as? String == "Cel" && temperature?["name"] as? String == "Culture temperature")
        #expect(temperature?["type"] as? String == "float32")
        let phase = parameters.first { $0["id"] as? String == "phase" }
        #expect((phase?["enumeration"] as? [String: String])?["3"] == "expansion" && phase?["value"] as? String == "label")
        #expect((rocker["reported"] as? [String: Any])?["serial_number"] is String, "the serial number the device reports")
        let status = try #require(payloads(late.output).last { ($0["schema"] as? String) == "pocare/v1/status" })
        let rockerStatus = (status["devices"] as? [[String: Any]])?.first { $0["id"] as? String == "rocker-1" }
        #expect(rockerStatus?["meta"] as? String == rocker["fingerprint"] as? String, "the status names the metadata")
        let spec = try #require(payloads(late.output).first { ($0["schema"] as? String) == "pocare/v1/spec" })
        #expect(spec["fingerprint"] as? String == specFingerprint)
        #expect("sha256:" + SHA256.hex(spec["canonical"] as? String ?? "") == specFingerprint, "the fingerprint recomputes")

        // A restart, then a reload with another profile for the rocker: its metadata is replaced,
        // and the birth names the new fingerprint.
        daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let profiles = fixture.directory.appendingPathComponent("profiles")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("DeviceProfiles"), to: profiles)
        let rockerProfile = profiles.appendingPathComponent("rocking-bag-rb50.yaml")
        try String(contentsOf: rockerProfile, encoding: .utf8)
            .replacingOccurrences(of: "name: Culture temperature,", with: "name: Culture temperature (probe B),")
            .write(to: rockerProfile, atomically: true, encoding: .utf8)
        try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)", with: "profile_dir: \(profiles.path)")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        // The daemon answers on its socket (not only that the file exists: a loaded machine
        // starts it slowly) before the reload is asked for.
        #expect(await waitFor(upTo: .seconds(30)) {
            (try? run("pocarectl", ["status", "--socket", fixture.socketPath]))?.status == 0
        })
        // A reload may not change how a device is read while its batch runs: the operator ends it first.
        let ended = try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath])
        #expect(ended.status == 0, "\(ended.errors)")
        let reloaded = try run("pocarectl", ["reload", "--socket", fixture.socketPath, "--reason", "CC-7 probe B"])
        #expect(reloaded.status == 0, "\(reloaded.errors)")
        let replaced = await waitFor(upTo: .seconds(20)) {
            metaOf(late.output, "rocker-1").contains { $0.contains("Culture temperature (probe B)") }
        }
        #expect(replaced)
        let newMeta = try #require(payloads(metaOf(late.output, "rocker-1").filter { $0.contains("probe B") }).last)
        #expect(await waitFor(upTo: .seconds(10)) {
            payloads(late.output).contains { message in
                (message["schema"] as? String) == "pocare/v1/status" && (message["state"] as? String) == "online"
                    && ((message["devices"] as? [[String: Any]])?.first { $0["id"] as? String == "rocker-1" }?["meta"] as? String)
                        == newMeta["fingerprint"] as? String
            }
        }, "a birth names the new metadata")
    }

    @Test("a batch that ends while the broker is down: its complete record reaches the Control Site when the broker is back")
    func batchRecordAfterOutage() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-record")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-record }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { !payloads(subscriber.output).isEmpty })
        // The broker's once-a-second autosave must hold the subscriber's session before the stop.
        let subscribed = Date()
        #expect(await waitFor(upTo: .seconds(10)) {
            let saved = try? FileManager.default.attributesOfItem(atPath: broker.directory.appendingPathComponent("mosquitto.db").path)
            return (saved?[.modificationDate] as? Date).map { $0 > subscribed } == true
        })
        broker.stop()
        let ended = try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath])
        #expect(ended.status == 0, "\(ended.errors)")
        #expect(await waitFor(upTo: .seconds(10)) { storeHasEvent("batch_record", fixture.storePath) })
        let report = try run("pocarectl", ["batch", "report", "DUR-1", "--json", "--socket", fixture.socketPath])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(report.output.utf8)) as? NSDictionary)
        try broker.start()
        let arrived = await waitFor(upTo: .seconds(30)) {
            payloads(subscriber.output).contains { ($0["event"] as? [String: Any])?["kind"] as? String == "batch_record" }
        }
        #expect(arrived, "\(subscriber.errors.suffix(10))")
        let message = try #require(payloads(subscriber.output).first { ($0["event"] as? [String: Any])?["kind"] as? String == "batch_record" })
        #expect(message["stream"] as? String == "rocker-1/events" && message["batch"] as? String == "DUR-1")
        let event = try #require(message["event"] as? [String: Any])
        let record = try #require(event["record"] as? NSDictionary)
        #expect(record.isEqual(to: expected as! [AnyHashable: Any]), "the same record as pocarectl batch report --json")
        #expect((record["end"] as? [String: Any])?["reason"] as? String == "run complete")
        let validator = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
        #expect(validator.validate(message, against: try #require(validator.schema(named: "event"))) == [])

        // Asked at the site, the record is committed and published again.
        let again = try run("pocarectl", ["batch", "publish", "DUR-1", "--socket", fixture.socketPath])
        #expect(again.status == 0, "\(again.errors)")
        let republished = await waitFor(upTo: .seconds(20)) {
            payloads(subscriber.output).contains { ($0["event"] as? [String: Any])?["reason"] as? String == "re-published on request" }
        }
        #expect(republished)
        let copy = payloads(subscriber.output).first { ($0["event"] as? [String: Any])?["reason"] as? String == "re-published on request" }
        #expect(((copy?["event"] as? [String: Any])?["record"] as? NSDictionary)?.isEqual(to: expected as! [AnyHashable: Any]) == true)
    }

    @Test("replay on request: a range is published again in its original form and answered; a malformed or foreign request changes nothing")
    func replayOnRequest() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-replay")
        defer { subscriber.stop() }
        let controlSite = try ControlSiteTestKey()
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-replay, \(controlSite.siteConfig) }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(30)) {
            (try? StoreReader(path: fixture.storePath).streams())?.contains { $0.stream.isTelemetry && $0.deliveredSeq >= 5 } == true
        })
        let epoch = try StoreReader(path: fixture.storePath).epoch()
        // Asked as the Control Site asks: signed with its key.
        func request(_ text: String) -> Int32 { publishReplayRequest(controlSite.signed(text), port: broker.port) }
        let statuses = { payloads(subscriber.output).filter { ($0["schema"] as? String) == "pocare/v1/replay_status" } }

        #expect(request("this is not a request") == 0)
        #expect(request(#"{"stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":5,"delete":true}"#) == 0)
        #expect(await waitFor(upTo: .seconds(10)) { daemon.errors.contains { $0.contains("replay request dropped") } })
        #expect(request(#"{"id":"other","stream":"rocker-1/telemetry","epoch":"0123456789abcdef0123456789abcdef","from":1,"to":5}"#) == 0)
        #expect(request(#"{"id":"r1","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":5}"#) == 0)
        #expect(await waitFor(upTo: .seconds(10)) { statuses().contains { $0["state"] as? String == "done" } }, "\(daemon.errors.suffix(10)) \(subscriber.errors.suffix(10))")
        let answers = statuses()
        let refused = answers.first { ($0["request"] as? [String: Any])?["id"] as? String == "other" }
        #expect(refused?["state"] as? String == "refused" && (refused?["reason"] as? String)?.contains("epoch") == true, "\(answers)")
        let accepted = answers.first { ($0["request"] as? [String: Any])?["id"] as? String == "r1" && $0["state"] as? String == "accepted" }
        #expect((accepted?["sending"] as? [String: Any])?["from"] as? Int == 1 && (accepted?["sending"] as? [String: Any])?["to"] as? Int == 5)
        #expect(answers.filter { $0["state"] as? String == "done" }.count == 1, "only the valid request is served")
        // The replayed records are the originals: the consumer drops them as duplicates, and
        // their hashes match (no chain break).
        #expect(await waitFor(upTo: .seconds(10)) { subscriber.errors.contains { $0.contains("duplicate rocker-1/telemetry 1...5") } },
                "\(subscriber.errors.suffix(5))")
        #expect(!subscriber.errors.contains { $0.contains("chain broken") })
        #expect(subscriber.errors.contains { $0.contains("replay r1 rocker-1/telemetry 1...5 done") }, "\(subscriber.errors.suffix(5))")
        let validator = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
        for answer in answers { #expect(validator.validate(answer, against: try #require(validator.schema(named: "replay_status"))) == []) }
        // Nothing else changed: the watermarks still reach the end and the daemon runs on.
        #expect(daemon.isRunning)
    }

    @Test("replay of a range already pruned at the site: the site says so on replay/status and publishes nothing it does not have")
    func replayOfPrunedRange() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-pruned")
        defer { subscriber.stop() }
        // Delivered rows older than a second are pruned at the writer's next maintenance.
        let controlSite = try ControlSiteTestKey()
        let fixture = try DaemonFixture(
            pollInterval: "100ms", storeBlock: "  retention: 1s",
            controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-pruned, \(controlSite.siteConfig) }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let stream = StreamName.telemetry(device: "rocker-1")
        let firstHeld = { (try? StoreReader(path: fixture.storePath).firstSeq(stream: stream)) ?? nil }
        #expect(await waitFor(upTo: .seconds(40)) { (firstHeld() ?? 0) > 10 }, "the oldest samples were delivered and pruned")
        let epoch = try StoreReader(path: fixture.storePath).epoch()
        let held = try #require(firstHeld())
        // Asked as the Control Site asks: signed with its key.
        func request(_ text: String) -> Int32 { publishReplayRequest(controlSite.signed(text), port: broker.port) }
        let answers = { payloads(subscriber.output).filter { ($0["schema"] as? String) == "pocare/v1/replay_status" } }
        let answer = { (id: String, state: String) in
            answers().first { ($0["request"] as? [String: Any])?["id"] as? String == id && $0["state"] as? String == state }
        }

        // Wholly pruned: refused, with the reason and how far the pruning reached.
        #expect(request(#"{"id":"gone","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":5}"#) == 0)
        #expect(await waitFor(upTo: .seconds(10)) { answers().contains { ($0["request"] as? [String: Any])?["id"] as? String == "gone" } })
        let gone = try #require(answers().first { ($0["request"] as? [String: Any])?["id"] as? String == "gone" })
        #expect(gone["state"] as? String == "refused", "\(gone)")
        #expect((gone["reason"] as? String)?.contains("pruned") == true, "\(gone)")
        #expect((gone["pruned_through"] as? NSNumber)?.int64Value == 5)

        // Partly pruned: accepted for the part the store holds, the rest named as pruned.
        let to = try #require(try StoreReader(path: fixture.storePath).streams().first { $0.stream == stream }?.deliveredSeq)
        #expect(request(#"{"id":"part","stream":"rocker-1/telemetry","epoch":"\#(epoch)","from":1,"to":\#(to)}"#) == 0)
        #expect(await waitFor(upTo: .seconds(15)) { answer("part", "done") != nil }, "\(answers())")
        let accepted = try #require(answer("part", "accepted"))
        let sending = try #require(accepted["sending"] as? [String: Any])
        let sentFrom = try #require((sending["from"] as? NSNumber)?.int64Value)
        let pruned = try #require((accepted["pruned_through"] as? NSNumber)?.int64Value)
        #expect(sentFrom >= held && pruned == sentFrom - 1, "\(accepted)")
        #expect((sending["to"] as? NSNumber)?.int64Value == to)
        #expect((accepted["reason"] as? String)?.contains("pruned") == true)

        // What reached the consumer: every number once live, and again only where the store
        // still held it when asked.
        let arrivals = {
            Dictionary(grouping: payloads(subscriber.output)
                .filter { ($0["stream"] as? String) == stream.description }
                .flatMap { $0["samples"] as? [[String: Any]] ?? [] }
                .compactMap { ($0["seq"] as? NSNumber)?.int64Value }
                .filter { $0 <= to }, by: { $0 }).mapValues(\.count)
        }
        #expect(await waitFor(upTo: .seconds(10)) { (sentFrom...to).allSatisfy { arrivals()[$0] == 2 } }, "\(arrivals())")
        let counts = arrivals()
        #expect((1..<sentFrom).allSatisfy { counts[$0] == 1 }, "pruned numbers were not sent again: \(counts.filter { $0.key < sentFrom && $0.value != 1 })")
        #expect(!subscriber.errors.contains { $0.contains("chain broken") })
        #expect(daemon.isRunning)
    }

    @Test("labels as taken: records polled before a reload that renames enumeration labels arrive with the old labels, even when published after it")
    func labelsOfTheProfileTakenUnder() async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let subscriber = try await startSubscriber(broker, clientId: "qa-labels")
        defer { subscriber.stop() }
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-labels }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        let stream = StreamName.telemetry(device: "rocker-1")
        let state = { (try? StoreReader(path: fixture.storePath).streams())?.first { $0.stream == stream } }
        #expect(await waitFor(upTo: .seconds(30)) { (state()?.deliveredSeq ?? 0) > 0 })
        // The broker's once-a-second autosave must hold the subscriber's session before the stop.
        let subscribed = Date()
        #expect(await waitFor(upTo: .seconds(10)) {
            let saved = try? FileManager.default.attributesOfItem(atPath: broker.directory.appendingPathComponent("mosquitto.db").path)
            return (saved?[.modificationDate] as? Date).map { $0 > subscribed } == true
        })
        broker.stop()

        // While the records wait in the store, a reload renames every phase label.
        let profiles = fixture.directory.appendingPathComponent("profiles")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("DeviceProfiles"), to: profiles)
        let rockerProfile = profiles.appendingPathComponent("rocking-bag-rb50.yaml")
        let renamed = "enum: { 0: none-B, 1: activation-B, 2: transduction-B, 3: expansion-B, 4: harvest-B }"
        let original = try String(contentsOf: rockerProfile, encoding: .utf8)
        let changed = original.replacingOccurrences(
            of: "enum: { 0: none, 1: activation, 2: transduction, 3: expansion, 4: harvest }", with: renamed)
        #expect(changed != original)
        try changed.write(to: rockerProfile, atomically: true, encoding: .utf8)
        try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)", with: "profile_dir: \(profiles.path)")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        // A reload may not change how a device is read while its batch runs: the operator ends it first.
        let refused = try run("pocarectl", ["reload", "--socket", fixture.socketPath, "--reason", "CC-9 phase names"])
        #expect(refused.status == 1 && refused.errors.contains("DUR-1"), "\(refused.errors)")
        #expect(try run("pocarectl", ["batch", "end", "rocker-1", "--reason", "run complete", "--socket", fixture.socketPath]).status == 0)
        let takenBefore = try #require(state()?.lastSeq)
        let reloaded = try run("pocarectl", ["reload", "--socket", fixture.socketPath, "--reason", "CC-9 phase names"])
        #expect(reloaded.status == 0, "\(reloaded.errors)")
        #expect(await waitFor(upTo: .seconds(20)) { (state()?.lastSeq ?? 0) > takenBefore + 10 })
        try broker.start()
        let published = { state().map { $0.deliveredSeq > takenBefore + 10 } ?? false }
        #expect(await waitFor(upTo: .seconds(30)) { published() })

        var phaseBySeq: [Int64: String] = [:]
        #expect(await waitFor(upTo: .seconds(10)) {
            for message in payloads(subscriber.output) where (message["stream"] as? String) == stream.description {
                for sample in message["samples"] as? [[String: Any]] ?? [] {
                    guard let seq = (sample["seq"] as? NSNumber)?.int64Value,
                        let phase = (sample["values"] as? [String: Any])?["phase"] as? String
                    else { continue }
                    phaseBySeq[seq] = phase
                }
            }
            return phaseBySeq.keys.contains { $0 > takenBefore + 10 }
        })
        let before = phaseBySeq.filter { $0.key <= takenBefore }.map(\.value)
        let after = phaseBySeq.filter { $0.key > takenBefore + 10 }.map(\.value)
        #expect(!before.isEmpty && before.allSatisfy { !$0.hasSuffix("-B") }, "taken before the reload: \(Set(before))")
        #expect(!after.isEmpty && after.allSatisfy { $0.hasSuffix("-B") }, "taken after the reload: \(Set(after))")
        // Labels change at one point of the stream, never back and forth.
        let ordered = phaseBySeq.sorted { $0.key < $1.key }.map { $0.value.hasSuffix("-B") }
        #expect(ordered == ordered.sorted { !$0 && $1 })
    }
}
