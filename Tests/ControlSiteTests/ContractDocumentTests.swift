import ControlSiteRecords
import Foundation
import Hashing
import POCareConfig
import POCareContract
import POCareCore
import Testing
import TestSupport

/// docs/asyncapi.yaml is the contract as others read it; `POCareContract` is the contract as
/// both halves run it. Each message of the document is written by the module's encoder (the
/// one the site or the Control Site publishes with), checked against the document's schema,
/// and read back by the module's decoder (the one the other side reads with), field by field.
@Suite("The AsyncAPI document and the contract module say the same")
struct ContractDocumentTests {
    let document: JSONSchemaValidator
    let site = "site-a"
    let epoch = String(repeating: "5e", count: 16)
    let time = Date(timeIntervalSince1970: 1_796_000_000.125)

    init() throws {
        document = try JSONSchemaValidator(asyncAPIFile: packageRoot.appendingPathComponent("docs/asyncapi.yaml").path)
    }

    /// The payload as JSON, valid against the document's schema of `message`.
    func checked(_ payload: [UInt8], as message: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let schema = try #require(document.schema(named: message), "docs/asyncapi.yaml has no schema '\(message)'")
        let value = try JSONSerialization.jsonObject(with: Data(payload))
        let violations = document.validate(value, against: schema)
        #expect(violations == [], "\(message): \(String(decoding: payload, as: UTF8.self))", sourceLocation: sourceLocation)
        return try #require(value as? [String: Any])
    }

    func hash(_ text: String) -> String { SHA256.hex(text) }

    @Test("every message the document names is one this suite writes and reads back")
    func everyMessageCovered() throws {
        let messages = try #require((document.root["components"] as? [String: Any])?["messages"] as? [String: Any])
        let covered: Set<String> = ["status", "meta", "replay_request", "replay_status", "register", "spec", "telemetry", "event", "audit"]
        #expect(Set(messages.keys) == covered, "a message added to the document needs its round trip here")
    }

    @Test("status: a birth with its devices and a signature, and the offline will, read back as the site's status")
    func status() throws {
        let devices = [Contract.DeviceStatus(id: "rocker-1", profile: "rocking-bag-rb50", batch: "B-1", phase: "expansion",
                                             spec: "sha256:" + hash("spec"), reachable: true, meta: "sha256:" + hash("meta"))]
        let birth = Contract.status(site: site, online: true, time: time, devices: devices, epoch: epoch)
        let key = try Ed25519.PrivateKey.generate()
        for payload in [birth, try SignedStatus.sign(birth, with: key, at: time), Contract.offline(site: site)] {
            let json = try checked(payload, as: "status")
            guard case .status(let read) = try ContractMessage.parse(topic: "pocare/v1/\(site)/status", payload: payload) else {
                Issue.record("not read as a status"); continue
            }
            #expect(read.site == site && read.state == json["state"] as? String)
            #expect(read.epoch == json["epoch"] as? String && read.time == json["time"] as? String)
        }
        let signature = try #require(SignedStatus.signature(of: try SignedStatus.sign(birth, with: key, at: time)))
        #expect(signature.isSigned(by: try key.publicKey()))
    }

    @Test("meta: a device's metadata from its profile reads back with the fingerprint it names and recomputes")
    func meta() throws {
        let loaded = ProfileLoader.load(path: packageRoot.appendingPathComponent("DeviceProfiles/rocking-bag-rb50.yaml").path)
        let profile = try #require(loaded.profile, "\(loaded.diagnostics)")
        let metadata = Contract.DeviceMetadata(device: "rocker-1", profile: profile, profileFingerprint: ProfileFingerprint.of(profile),
                                               serialNumber: "RB50-0042", firmwareVersion: "2.1")
        let (payload, fingerprint) = metadata.message(site: site)
        let json = try checked(payload, as: "meta")
        #expect(json["fingerprint"] as? String == fingerprint)
        guard case .deviceMetadata(let read) = try ContractMessage.parse(topic: "pocare/v1/\(site)/rocker-1/meta", payload: payload) else {
            Issue.record("not read as metadata"); return
        }
        #expect(read.device == "rocker-1" && read.fingerprint == fingerprint && read.verified)
    }

    @Test("spec: a released spec reads back under its fingerprint, which its canonical form recomputes")
    func spec() throws {
        let profiles = SpecLoader.profileCatalogue(directory: packageRoot.appendingPathComponent("DeviceProfiles").path)
        let loaded = SpecLoader.load(path: packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml").path,
                                     profiles: profiles)
        let ipc = try #require(loaded.spec, "\(loaded.diagnostics)")
        let payload = Contract.spec(site: site, spec: ipc)
        _ = try checked(payload, as: "spec")
        let hex = String(ipc.fingerprint.dropFirst("sha256:".count))
        guard case .specDocument(let read) = try ContractMessage.parse(topic: "pocare/v1/\(site)/specs/\(hex)", payload: payload) else {
            Issue.record("not read as a spec"); return
        }
        #expect(read.fingerprint == ipc.fingerprint && read.computed == ipc.fingerprint && read.verified)
    }

    @Test("telemetry: chained samples with values of each kind and a bad reading read back sample by sample")
    func telemetry() throws {
        let samples = (1...3).map { n -> PublishedSample in
            let nanoseconds: Int64 = 1_796_000_000_125_000_000 + Int64(n) * 1_000_000_000
            return PublishedSample(
                seq: Int64(n), time: time.addingTimeInterval(Double(n)), cycle: Int64(n - 1), batch: "B-1", phase: "expansion",
                spec: "sha256:" + hash("spec"),
                readings: [
                    Reading(parameterId: "temperature", value: .number(37.0 + Double(n) / 10), quality: .good),
                    Reading(parameterId: "rocking", value: .flag(true), quality: .good),
                    Reading(parameterId: "ph", value: nil, quality: .badCommunication),
                ],
                hash: hash("s\(n)"), previousHash: hash("s\(n - 1)"), timeNanoseconds: nanoseconds)
        }
        let payload = Contract.telemetry(site: site, device: "rocker-1", samples: samples, sent: time, epoch: epoch)
        let json = try checked(payload, as: "telemetry")
        #expect((json["samples"] as? [Any])?.count == 3)
        guard case .records(let read) = try ContractMessage.parse(topic: "pocare/v1/\(site)/rocker-1/telemetry", payload: payload) else {
            Issue.record("not read as records"); return
        }
        #expect(read.kind == RecordKind.sample && read.epoch == epoch && read.stream == "rocker-1/telemetry")
        #expect(read.seqFirst == 1 && read.seqLast == 3)
        for (sent, got) in zip(samples, read.samples) {
            #expect(got.seq == sent.seq && got.timeNanoseconds == sent.timeNanoseconds)
            #expect(got.time == Contract.format(sent.time))
            #expect(got.cycle == sent.cycle && got.batch == sent.batch)
            #expect(got.phase == sent.phase && got.spec == sent.spec)
            #expect(got.hash == sent.hash && got.previousHash == sent.previousHash)
            #expect(got.parameters.count == 3 && got.quality != nil, "the bad reading's quality is carried")
        }
    }

    @Test("event and audit: one record each, with their stream, number and chain")
    func eventAndAudit() throws {
        let event = PublishedEvent(
            seq: 7, stream: .events(device: "rocker-1"), device: "rocker-1", time: time, kind: "raised", batch: "B-1", phase: "expansion",
            spec: "sha256:" + hash("spec"),
            body: "{\"kind\":\"raised\",\"time\":\"\(Contract.format(time))\",\"device\":\"rocker-1\",\"alarm\":\"rocker-1/temperature/limit\"}",
            hash: hash("e7"), previousHash: hash("e6"), timeNanoseconds: 1_796_000_000_125_000_000, alarm: "rocker-1/temperature/limit")
        let eventPayload = Contract.event(site: site, event: event, epoch: epoch)
        _ = try checked(eventPayload, as: "event")
        guard case .records(let e) = try ContractMessage.parse(topic: "pocare/v1/\(site)/rocker-1/events", payload: eventPayload) else {
            Issue.record("not read as records"); return
        }
        #expect(e.kind == RecordKind.event && e.seqFirst == 7 && e.carriesChain)
        #expect(e.stream == "rocker-1/events" && e.epoch == epoch)

        let entry = PublishedAuditEntry(
            seq: 4, time: time, timeNanoseconds: 1_796_000_000_125_000_000, user: "operator1", action: "batch.start", target: "rocker-1",
            reason: "new batch", oldValue: nil, newValue: "batch=B-1", previousHash: hash("a3"), hash: hash("a4"))
        let auditPayload = Contract.audit(site: site, entry: entry, epoch: epoch)
        _ = try checked(auditPayload, as: "audit")
        guard case .records(let a) = try ContractMessage.parse(topic: "pocare/v1/\(site)/audit", payload: auditPayload) else {
            Issue.record("not read as records"); return
        }
        #expect(a.kind == RecordKind.audit && a.seqFirst == 4 && a.carriesChain)
        #expect(a.stream == "audit" && a.epoch == epoch)
    }

    @Test("replay: the Control Site's request, signed or not, reads back at the site; the site's answer reads back at the Control Site")
    func replay() throws {
        let request = ReplayRequest(id: "r-1", stream: .telemetry(device: "rocker-1"), epoch: epoch, from: 10, to: 20)
        let key = try Ed25519.PrivateKey.generate()
        let signed = try SignedReplayRequest.sign(request.payload, site: site, with: key, at: time)
        for payload in [request.payload, signed] {
            _ = try checked(payload, as: "replay_request")
            #expect(try ReplayRequest.parse(payload).get() == request)
        }
        guard case .signed(let proof) = SignedReplayRequest.read(signed) else { Issue.record("the signature does not read"); return }
        #expect(proof.isSigned(by: try key.publicKey()))

        let answer = Contract.replayStatus(site: site, epoch: epoch, request: request, state: "accepted", prunedThrough: 12,
                                           sending: 13...20, time: time)
        _ = try checked(answer, as: "replay_status")
        let read = try ReplayAnswer.parse(site: site, payload: answer)
        #expect(read.id == "r-1" && read.stream == "rocker-1/telemetry" && read.epoch == epoch)
        #expect(read.from == 10 && read.to == 20)
        #expect(read.outcome == ReplayAnswer.Outcome.accepted && read.prunedThrough == 12)
        #expect(read.sending == 13...20)
    }

    @Test("register: a register the Control Site signed reads back at the site with its hash checked")
    func register() throws {
        let register = ControlSiteRegister(
            kind: "specs", version: 3,
            signedBy: .init(name: "Quality Person", user: "qp", time: Contract.format(time), meaning: "released"),
            entries: [.object(["fingerprint": .string("sha256:" + hash("spec")), "state": .string("released"), "max_devices": .integer(4)])])
        let payload = register.message(site: site)
        let json = try checked(payload, as: "register")
        #expect(json["hash"] as? String == register.hash)
        #expect(try ControlSiteRegister.decode(payload, site: site, kind: "specs").get() == register)
    }
}
