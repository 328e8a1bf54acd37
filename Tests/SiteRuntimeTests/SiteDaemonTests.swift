import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteRuntime
import SiteStore
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let testSpec = """
    spec:
      product: P
      process: Q
      document: DOC-RUNTIME
      version: "1"
      approved_by: QA
      approval_date: 2026-01-02
      change_control: CC-1
      profiles: [rocking-bag-rb50]
    rules:
      running: { parameter: running }
    phases:
      expansion:
        temperature: { unit: Cel, target: 37, alert_low: 36.5, alert_high: 37.5, action_low: 36, action_high: 38, on_delay: 1s, off_delay: 1s }
      harvest:
        temperature: { unit: Cel, target: 37, alert_low: 36, alert_high: 38, action_low: 35, action_high: 39 }
    """

/// A site in a scratch folder, run by a `SiteDaemon` in the test process: no pollers, no socket,
/// a real store. Samples go straight into the pipeline; requests straight to `handle`.
final class RuntimeFixture {
    let directory: URL
    let daemon: SiteDaemon
    let store: SiteStore
    let operatorPeer = ControlPeer(uid: 4242, pid: 1, user: "alice")
    private var cycle: UInt64 = 0
    // Polls a minute ago, so that an operator acting now acts after them.
    private let start = Date().addingTimeInterval(-60)

    var configPath: String { directory.appendingPathComponent("site.yaml").path }
    var storePath: String { directory.appendingPathComponent("site.db").path }

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-runtime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try testSpec.write(to: directory.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        try """
            site: runtime
            profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)
            store: { path: \(directory.appendingPathComponent("site.db").path) }
            specs: { require_release: false }
            control: { socket: \(directory.appendingPathComponent("pocared.sock").path) }
            devices:
              - { id: rocker-1, profile: rocking-bag-rb50.yaml, address: "127.0.0.1:1", poll_interval: 1s,
                  batch: { id: RT-1, spec: spec.yaml, phase: expansion, follow_device_phase: false } }
            """.write(toFile: directory.appendingPathComponent("site.yaml").path, atomically: true, encoding: .utf8)
        let loaded = SiteConfigLoader.load(path: directory.appendingPathComponent("site.yaml").path)
        let site = try #require(loaded.config, "\(loaded.diagnostics)")
        store = try SiteStore(settings: SiteRunner.storeSettings(site: site, path: directory.appendingPathComponent("site.db").path))
        daemon = SiteDaemon(site: site, configPath: directory.appendingPathComponent("site.yaml").path, store: store, printValues: false)
        try await daemon.startBatches(for: site.devices)
    }

    /// One poll of rocker-1, a second after the previous one, with this temperature.
    func poll(temperature: Double) {
        let profile = daemon.site.devices[0].profile
        let readings = profile.parameters.map { parameter -> Reading in
            switch parameter.id {
            case "temperature": Reading(parameterId: parameter.id, value: .number(temperature), quality: .good)
            case "running": Reading(parameterId: parameter.id, value: .flag(true), quality: .good)
            default: Reading(parameterId: parameter.id, value: .number(0), quality: .good)
            }
        }
        cycle += 1
        daemon.pipeline.handle(Sample(
            deviceId: "rocker-1", time: start.addingTimeInterval(Double(cycle)), monotonicTime: Int64(cycle) * 1_000_000_000,
            cycle: cycle, startLateness: .zero, missedCycles: 0, readings: readings))
    }

    func send(_ command: ControlCommand) async -> ControlResponse {
        await daemon.handle(ControlRequest(command, id: "t"), from: operatorPeer)
    }

    func auditActions() async throws -> [AuditEntry] {
        await store.flush()
        return try StoreReader(path: storePath).auditEntries()
    }

    /// Runs `body` on a fresh site and closes it afterwards, whether the body fails or not.
    static func with(_ body: (RuntimeFixture) async throws -> Void) async throws {
        let site = try await RuntimeFixture()
        do {
            try await body(site)
        } catch {
            await site.close()
            throw error
        }
        await site.close()
    }

    func close() async {
        await daemon.shutDown()
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("The running site, driven in process")
struct SiteDaemonTests {
    @Test("an excursion is raised, acknowledged only with a reason and audited first, and reported with who and why")
    func excursionAcknowledgementAndReport() async throws {
        try await RuntimeFixture.with { site in
        for _ in 0..<3 { site.poll(temperature: 37) }
        for _ in 0..<4 { site.poll(temperature: 38.4) }

        guard case .alarms(let list)? = await site.send(.alarms(AlarmQuery())).result else { Issue.record("no alarm list"); return }
        let alarm = try #require(list.alarms.first { $0.alarm == "rocker-1/temperature/limit" })
        #expect(alarm.state == "active_unacknowledged" && alarm.level == "action" && alarm.value == 38.4)

        // No reason, no record, no effect.
        let blank = await site.send(.acknowledge(AlarmAction(alarm: alarm.alarm, reason: "  ")))
        #expect(!blank.ok && blank.error?.code == .refused && blank.id == "t")
        #expect(try await site.auditActions().contains { $0.action.action == "alarm.acknowledge" } == false)

        let ack = await site.send(.acknowledge(AlarmAction(alarm: alarm.alarm, reason: "probe re-seated")))
        guard case .alarmAction(let acknowledged)? = ack.result else { Issue.record("\(ack)"); return }
        #expect(acknowledged.user == "alice" && acknowledged.state == "active_acknowledged")
        let entry = try #require(try await site.auditActions().last { $0.action.action == "alarm.acknowledge" })
        #expect(entry.action.user == "alice" && entry.action.reason == "probe re-seated" && entry.action.target == alarm.alarm)
        #expect(await site.send(.acknowledge(AlarmAction(alarm: alarm.alarm, reason: "again"))).error?.code == .refused)

        // Values carry the limits of the phase in force.
        guard case .values(let values)? = await site.send(.values(device: "rocker-1")).result else { Issue.record("no values"); return }
        let temperature = try #require(values.values.first { $0.parameter == "temperature" })
        #expect(temperature.value == .number(38.4) && temperature.limits?.alertHigh == 37.5 && values.batch == "RT-1")
        #expect(await site.send(.values(device: "nowhere")).error?.code == .badRequest)

        // Back in range: cleared, the excursion recorded; the batch ends and is reported.
        for _ in 0..<4 { site.poll(temperature: 37) }
        guard case .batch(let ended)? = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete"))).result else {
            Issue.record("batch not ended"); return
        }
        #expect(ended.batch == nil && ended.user == "alice")
        await site.store.flush()
        let answer = await site.send(.batchReport(batch: "RT-1"))
        guard case .batchReport(let report)? = answer.result else { Issue.record("\(answer)"); return }
        #expect(report.samples == 11 && report.badReadings == 0 && report.ended != nil)
        let excursion = try #require(report.excursions.first)
        #expect(excursion.alarm == "rocker-1/temperature/limit" && excursion.worstValue == 38.4 && excursion.worstLevel == "action")
        let reported = try #require(report.alarms.first { $0.alarm == "rocker-1/temperature/limit" })
        #expect(reported.acknowledgedBy == "alice" && reported.reason == "probe re-seated" && reported.level == "action")
        let row = try #require(report.phases.first { $0.phase == "expansion" }?.parameters.first { $0.parameter == "temperature" })
        #expect(row.max == 38.4 && row.min == 37 && (row.inRangePct ?? 100) < 100)
        #expect(await site.send(.batchReport(batch: "NONE")).error?.code == .refused)
        }
    }

    @Test("batch start, phase and end are checked, audited with the operator and applied")
    func batchCommands() async throws {
        try await RuntimeFixture.with { site in
        let running = await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-2", spec: "x", reason: "r")))
        #expect(running.error?.code == .refused, "one batch at a time")
        #expect(await site.send(.batchPhase(BatchPhaseChange(device: "rocker-1", phase: "thaw", reason: "r"))).error?.code == .refused)
        guard case .batch(let moved)? = await site.send(.batchPhase(BatchPhaseChange(device: "rocker-1", phase: "harvest", reason: "day 9"))).result
        else { Issue.record("phase not changed"); return }
        #expect(moved.phase == "harvest" && moved.batch == "RT-1")
        #expect(await site.send(.batchPhase(BatchPhaseChange(device: "rocker-1", phase: "harvest", reason: "again"))).error?.code == .refused,
                "a change to the current phase is refused")
        #expect(await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "  "))).error?.code == .refused, "a reason is required")
        _ = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")))
        let spec = try #require(moved.spec)
        #expect(await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-2", spec: String(spec.dropFirst("sha256:".count).prefix(12)), reason: ""))).error?.code == .refused,
                "a reason is required")
        guard case .batch(let started)? = await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-2", spec: String(spec.dropFirst("sha256:".count).prefix(12)), reason: "next run"))).result
        else { Issue.record("not started by fingerprint"); return }
        #expect(started.batch == "RT-2" && started.phase == "expansion" && started.spec == spec)
        let actions = try await site.auditActions().filter { $0.action.user == "alice" }.map(\.action.action)
        #expect(actions == ["batch.phase", "batch.end", "batch.start"])
        await site.store.flush()
        guard case .batchList(let list)? = await site.send(.batchList).result else { Issue.record("no list"); return }
        #expect(list.batches.map(\.batch) == ["RT-1", "RT-2"] && list.batches[0].ended != nil)
        }
    }

    @Test("a batch names the starting material it is made from: refused when blank, kept in the audit trail and the batch record")
    func startingMaterial() async throws {
        try await RuntimeFixture.with { site in
        guard case .batch(let first)? = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete"))).result,
              case .batchReport(let configured)? = await site.send(.batchReport(batch: "RT-1")).result
        else { Issue.record("the configured batch did not end"); return }
        #expect(first.batch == nil)
        let spec = String(configured.spec.replacingOccurrences(of: "sha256:", with: "").prefix(12))
        #expect(await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-3", spec: spec, reason: "split run",
                                                       startingMaterial: ""))).error?.code == .badRequest)
        let started = await site.send(.batchStart(BatchStart(device: "rocker-1", batch: "RT-3", spec: spec, reason: "split run",
                                                             startingMaterial: "SM-2026-7")))
        guard case .batch? = started.result else { Issue.record("not started: \(String(describing: started.error))"); return }
        for _ in 0..<3 { site.poll(temperature: 37) }
        _ = await site.send(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")))
        await site.store.flush()
        guard case .batchReport(let report)? = await site.send(.batchReport(batch: "RT-3")).result else { Issue.record("no report"); return }
        #expect(report.startingMaterial == "SM-2026-7")
        let start = try await site.auditActions().last { $0.action.action == "batch.start" }
        #expect(start?.action.newValue?.hasSuffix("starting_material=SM-2026-7") == true)
        }
    }

    @Test("status names the site, its devices and batches; a reload of a broken file is refused, audited, and changes nothing")
    func statusAndRefusedReload() async throws {
        try await RuntimeFixture.with { site in
        guard case .status(let status)? = await site.send(.status).result else { Issue.record("no status"); return }
        #expect(status.site == "runtime" && status.devices.map(\.id) == ["rocker-1"] && status.devices[0].batch == "RT-1")
        #expect(status.controlSite == nil && status.specs.count == 1)

        try "site: runtime\ndevices: [".write(toFile: site.configPath, atomically: true, encoding: .utf8)
        let refused = await site.send(.reload(reason: "CC-7"))
        #expect(refused.error?.code == .refused)
        let entry = try #require(try await site.auditActions().last)
        #expect(entry.action.action == "config.reload.refused" && entry.action.user == "alice")
        #expect(site.daemon.site.devices.map(\.id) == ["rocker-1"])
        }
    }

    @Test("audit verify and show through the daemon read the same trail the store holds")
    func auditThroughTheDaemon() async throws {
        try await RuntimeFixture.with { site in
        await site.store.flush()
        guard case .auditVerification(let verified)? = await site.send(.auditVerify).result else { Issue.record("no verification"); return }
        #expect(verified.intact && verified.integrityCheck == "ok" && verified.entries >= 1)
        guard case .auditEntries(let shown)? = await site.send(.auditShow(AuditQuery(action: "batch.*"))).result else {
            Issue.record("no entries"); return
        }
        #expect(shown.entries.map(\.action) == ["batch.start"] && shown.entries[0].target == "rocker-1")
        }
    }
}
