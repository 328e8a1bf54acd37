import Foundation
import InProcessControl
import POCareCore
import Testing

/// A reactor whose profile watches it: measurements stale after 10 s (dissolved oxygen after
/// 5 s), communication lost after 3 polls, at critical priority.
private func watchedProfile() -> DeviceProfile {
    var profile = testProfile
    profile.parameters.append(
        Parameter(id: "dissolved_oxygen", name: "DO", unit: "%", table: .inputRegister, address: 4, dataType: .float32, staleAfter: .seconds(5)))
    profile.parameters.append(
        Parameter(id: "temperature_setpoint", name: "SP", unit: "Cel", table: .holdingRegister, address: 20, dataType: .float32, writable: true))
    profile.monitoring = DeviceMonitoring(
        staleAfter: .seconds(10), stalePriority: .low, communicationLossPolls: 3, communicationPriority: .critical)
    return profile
}

/// One sample a second of a device that runs no batch (unless a test starts one).
private final class Watch {
    let engine = ControlEngine()
    let profile = watchedProfile()
    private(set) var events: [ControlEvent] = []
    private(set) var second = 0

    init() { engine.register(device: "r1", profile: profile) }

    var now: Timestamp { Timestamp(wall: epoch.addingTimeInterval(Double(second)), monotonic: Int64(second) * 1_000_000_000) }

    /// One poll: nil values are a poll without any good value; `missed` polls the poller could not make before it.
    func poll(temperature: Double?, oxygen: Double? = 50, missed: UInt64 = 0, seconds: Int = 1) {
        for _ in 0..<seconds {
            let good = temperature != nil
            let readings = [
                Reading(parameterId: "temperature", value: temperature.map(Value.number), quality: good ? .good : .badCommunication),
                Reading(parameterId: "ph", value: good ? .number(7.2 + Double(second) * 0.001) : nil, quality: good ? .good : .badCommunication),
                Reading(parameterId: "running", value: good ? .flag(true) : nil, quality: good ? .good : .badCommunication),
                Reading(parameterId: "phase", value: good ? .number(3) : nil, quality: good ? .good : .badCommunication, label: good ? "expansion" : nil),
                Reading(parameterId: "dissolved_oxygen", value: oxygen.map(Value.number), quality: good && oxygen != nil ? .good : .badCommunication),
                Reading(parameterId: "temperature_setpoint", value: good ? .number(37) : nil, quality: good ? .good : .badCommunication),
            ]
            var produced: [ControlEvent] = []
            engine.evaluate(
                Sample(deviceId: "r1", time: now.wall, monotonicTime: now.monotonic, cycle: UInt64(second), startLateness: .zero,
                       missedCycles: missed, readings: readings),
                into: &produced)
            events += produced
            second += 1
        }
    }

    func alarm(_ id: String) -> AlarmSnapshot? { engine.alarms().first { $0.id.description == id } }
    func kinds(_ kind: ControlEvent.Kind, _ alarm: String) -> [ControlEvent] {
        events.filter { $0.kind == kind && $0.alarm?.description == alarm }
    }
}

@Suite("Every loss of monitoring is an alarm, with or without a batch")
struct MonitoringTests {
    @Test("a device lost outside a batch raises its communication alarm after the profile's polls, at the profile's priority, and counts them")
    func communicationLostWithoutBatch() throws {
        let watch = Watch()
        watch.poll(temperature: 37, seconds: 3)
        watch.poll(temperature: nil, seconds: 2)
        #expect(watch.alarm("r1/communication") == nil, "two polls are not yet a loss")
        watch.poll(temperature: nil)
        let lost = try #require(watch.kinds(.communicationLost, "r1/communication").first)
        #expect(lost.priority == .critical && lost.batchId == nil && lost.reason == "no good value for 3 polls")
        #expect(watch.alarm("r1/communication")?.priority == .critical)
        watch.poll(temperature: nil, seconds: 4)
        #expect(watch.engine.communication(of: "r1") == .init(lost: true, missedPolls: 7, since: lost.time))
        watch.poll(temperature: 37)
        let restored = try #require(watch.kinds(.communicationRestored, "r1/communication").first)
        #expect(restored.reason == "a good value again after 7 polls without one")
        #expect(watch.engine.communication(of: "r1")?.lost == false)
        #expect(watch.alarm("r1/communication")?.state == .returnedUnacknowledged, "an operator still sees that it was lost")
    }

    @Test("polls the poller could not make count as missed: one late bad poll after a long block is a loss")
    func missedPollsCount() throws {
        let watch = Watch()
        watch.poll(temperature: 37)
        watch.poll(temperature: nil, missed: 4)
        let lost = try #require(watch.kinds(.communicationLost, "r1/communication").first)
        #expect(lost.reason == "no good value for 5 polls")
        #expect(watch.engine.communication(of: "r1")?.missedPolls == 5)
    }

    @Test("a frozen sensor is stale after its stale time from the last change of its value, without a batch; set points are not watched")
    func staleWithoutBatch() throws {
        let watch = Watch()
        watch.poll(temperature: 37, oxygen: 40, seconds: 1)
        watch.poll(temperature: 37.1, oxygen: 41, seconds: 1)  // DO last changes at t = 1 s
        watch.poll(temperature: 37.2, oxygen: 41, seconds: 4)
        #expect(watch.kinds(.raised, "r1/dissolved_oxygen/stale").isEmpty, "4 s unchanged is within 5 s")
        watch.poll(temperature: 37.3, oxygen: 41, seconds: 1)
        let raised = try #require(watch.kinds(.raised, "r1/dissolved_oxygen/stale").first)
        #expect(raised.time == epoch.addingTimeInterval(6) && raised.batchId == nil && raised.priority == .low)
        #expect(raised.reason?.contains("unchanged for 5") == true, "\(raised.reason ?? "")")
        // A failed read neither changes the value nor restarts the time.
        watch.poll(temperature: 37.4, oxygen: nil, seconds: 2)
        #expect(watch.kinds(.cleared, "r1/dissolved_oxygen/stale").isEmpty)
        watch.poll(temperature: 37.5, oxygen: 42)
        #expect(watch.kinds(.cleared, "r1/dissolved_oxygen/stale").count == 1, "the first different value clears it")
        // The temperature changes every poll; the set point never does, and is not a measurement.
        for n in 0..<12 { watch.poll(temperature: 37.6 + Double(n) * 0.01, oxygen: 43 + Double(n)) }
        #expect(watch.engine.alarms().allSatisfy { $0.id.parameter != "temperature_setpoint" && $0.id.parameter != "temperature" })
    }

    @Test("a batch start does not restart the stale time, and the stale alarm and a lost link stand on after the batch")
    func deviceAlarmsOutliveBatches() throws {
        let watch = Watch()
        watch.poll(temperature: 37, oxygen: 41, seconds: 4)
        var spec = makeSpec()
        spec.identity.profiles = ["test-reactor"]
        _ = try watch.engine.startBatch(device: "r1", batchId: "B-1", spec: spec, phase: "expansion", at: watch.now)
        watch.poll(temperature: 37, oxygen: 41, seconds: 2)
        let raised = try #require(watch.kinds(.raised, "r1/dissolved_oxygen/stale").first, "5 s after the last change, not after the start")
        #expect(raised.batchId == "B-1" && raised.time == epoch.addingTimeInterval(5))
        watch.poll(temperature: nil, seconds: 3)
        let ended = try watch.engine.endBatch(device: "r1", user: "alice", reason: "done", at: watch.now)
        #expect(ended.filter { $0.kind == .openAtBatchEnd }.compactMap(\.alarm?.description).sorted() == ["r1/communication", "r1/dissolved_oxygen/stale"])
        #expect(watch.alarm("r1/communication")?.isActive == true && watch.alarm("r1/dissolved_oxygen/stale")?.isActive == true)
        watch.poll(temperature: nil)
        #expect(watch.kinds(.communicationLost, "r1/communication").count == 1, "not raised again: it never stopped standing")
    }

    @Test("a spec's stale time applies while its batch runs; the profile's where the spec sets none")
    func specStaleTimeWins() throws {
        let watch = Watch()
        var limits = temperatureLimits
        limits.onDelay = .zero
        limits.staleAfter = .seconds(2)
        var spec = makeSpec(temperature: limits)
        spec.identity.profiles = ["test-reactor"]
        _ = try watch.engine.startBatch(device: "r1", batchId: "B-2", spec: spec, phase: "expansion", at: watch.now)
        watch.poll(temperature: 37, oxygen: 40, seconds: 3)
        let raised = try #require(watch.kinds(.raised, "r1/temperature/stale").first)
        #expect(raised.priority == .high, "the spec's priority for the parameter")
        #expect(watch.kinds(.raised, "r1/dissolved_oxygen/stale").isEmpty)
    }

    @Test("stopping to follow the device's phase is an event with who and why; the phase then stays where the operator puts it")
    func stopFollowing() throws {
        let run = try Run(spec: makeSpec(harvestTemperature: temperatureLimits), followDevicePhase: true)
        run.feed(37.0, seconds: 2)
        let stopped = try run.engine.stopFollowingDevicePhase(device: "r1", user: "alice", reason: "phase sensor fault", at: run.now)
        #expect(stopped.map(\.kind) == [.phaseFollowStopped] && stopped.first?.user == "alice")
        #expect(run.engine.batch(of: "r1")?.phaseSource == .manual)
        run.phaseCode = 4
        run.feed(temperature: 37.0)
        #expect(run.engine.batch(of: "r1")?.phase == "expansion", "the device's harvest is no longer followed")
    }
}

@Suite("A batch whose device stopped running leaves it watched")
struct StoppedDeviceAfterBatchTests {
    @Test("after a batch ends while its running signal said stopped, a frozen sensor raises stale again")
    func staleAfterStoppedBatch() throws {
        let run = try Run()
        run.running = false
        run.feed(37.0, seconds: 2)
        #expect(!run.kinds(.suppressed).isEmpty)
        _ = try run.engine.endBatch(device: "r1", user: "alice", reason: "done", at: run.now)
        // One value for more than the test profile's default stale time (an hour).
        for _ in 0..<3700 { run.feed(temperature: 37.0) }
        #expect(run.engine.alarms().contains { $0.id.description == "r1/temperature/stale" && $0.isActive })
    }
}
