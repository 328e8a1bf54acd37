import Foundation
import InProcessControl
import POCareCore
import PropertyBased
import Testing

/// A closed-system bioreactor's flags and status: the door, the bag, a sensor fault bit and the
/// controller's status code, next to a temperature.
let flagProfile = DeviceProfile(
    id: "flag-reactor", vendor: "Test", model: "F", firmware: "any", modbus: ModbusDefaults(),
    parameters: [
        Parameter(id: "temperature", name: "T", unit: "Cel", table: .inputRegister, address: 0, dataType: .float32),
        Parameter(id: "door_closed", name: "door", unit: "", table: .discreteInput, address: 0, dataType: .bool),
        Parameter(id: "sensor_fault", name: "fault", unit: "", table: .holdingRegister, address: 10, dataType: .bit(3)),
        Parameter(
            id: "status", name: "status", unit: "", table: .holdingRegister, address: 11, dataType: .uint16,
            enumeration: [0: "idle", 1: "running", 2: "warning", 3: "fault"]),
    ])

func flagSpec(_ rules: [ParameterLimits]) -> IPCSpec {
    IPCSpec(
        identity: SpecIdentity(
            product: "p", process: "p", documentId: "IPC-FLAGS", version: "1", approvedBy: "qa", approvalDate: "2026-01-01",
            changeControl: "cc", profiles: ["flag-reactor"]),
        phases: [PhaseLimits(phase: "expansion", limits: rules), PhaseLimits(phase: "harvest", limits: [])],
        communicationLossPolls: 3, running: nil, fingerprint: "sha256:" + String(repeating: "cd", count: 32))
}

let doorRule = ParameterLimits(
    parameterId: "door_closed", discrete: .flag(alarmWhen: false), discreteLevel: .action, latch: true)
let statusRule = ParameterLimits(
    parameterId: "status", onDelay: .seconds(5), offDelay: .seconds(2), priority: .high, discrete: .labels(["warning", "fault"]))
let faultRule = ParameterLimits(parameterId: "sensor_fault", onDelay: .seconds(3), discrete: .flag(alarmWhen: true))

/// Drives an engine with one flag-reactor sample per second of simulated time.
final class FlagRun {
    let engine = ControlEngine()
    private(set) var events: [ControlEvent] = []
    private(set) var second = 0
    var doorClosed = true
    var sensorFault = false
    var status = 1

    init(_ rules: [ParameterLimits] = [doorRule, statusRule, faultRule]) throws {
        engine.register(device: "r1", profile: flagProfile)
        events += try engine.startBatch(device: "r1", batchId: "B-1", spec: flagSpec(rules), at: now)
    }

    var now: Timestamp { Timestamp(wall: epoch.addingTimeInterval(Double(second)), monotonic: Int64(second) * 1_000_000_000) }

    @discardableResult
    func feed(seconds: Int = 1) -> [ControlEvent] {
        var produced: [ControlEvent] = []
        for _ in 0..<seconds {
            let readings = [
                Reading(parameterId: "temperature", value: .number(37), quality: .good),
                Reading(parameterId: "door_closed", value: .flag(doorClosed), quality: .good),
                Reading(parameterId: "sensor_fault", value: .flag(sensorFault), quality: .good),
                Reading(parameterId: "status", value: .number(Double(status)), quality: .good,
                        label: flagProfile.parameter("status")!.enumeration![status]),
            ]
            let sample = Sample(
                deviceId: "r1", time: now.wall, monotonicTime: now.monotonic, cycle: UInt64(second), startLateness: .zero,
                missedCycles: 0, readings: readings)
            engine.evaluate(sample, into: &produced)
            second += 1
        }
        events += produced
        return produced
    }

    func kinds(_ filter: ControlEvent.Kind...) -> [ControlEvent] { events.filter { filter.contains($0.kind) } }

    func snapshot(_ alarm: AlarmID) -> AlarmSnapshot? { engine.alarms().first { $0.id == alarm } }

    func state(_ alarm: AlarmID) -> AlarmState { snapshot(alarm)?.state ?? .normal }
}

let doorAlarm = AlarmID(device: "r1", parameter: "door_closed", kind: .discrete)
let statusAlarm = AlarmID(device: "r1", parameter: "status", kind: .discrete)
let faultAlarm = AlarmID(device: "r1", parameter: "sensor_fault", kind: .discrete)

@Suite("Discrete alarms, latching and out of service")
struct DiscreteAlarmTests {
    @Test("a flag raises its alarm when it takes the alarm value, after the on-delay, and clears with an excursion")
    func flagAlarm() throws {
        let run = try FlagRun()
        run.feed(seconds: 3)
        run.sensorFault = true
        run.feed(seconds: 3)  // t = 3, 4, 5: not yet 3 s
        #expect(run.kinds(.raised).isEmpty)
        #expect(run.engine.pendingAlarms().first?.id == faultAlarm)
        #expect(run.engine.pendingAlarms().first?.remaining == .seconds(1))
        let raised = run.feed()  // t = 6
        #expect(raised.map(\.kind) == [.raised])
        #expect(raised.first?.alarm == faultAlarm)
        #expect(raised.first?.level == .alert)
        #expect(raised.first?.side == nil, "a flag has no side")
        #expect(raised.first?.value == 1)
        #expect(run.engine.pendingAlarms().isEmpty)
        #expect(run.state(faultAlarm) == .unacknowledged)
        run.sensorFault = false
        let cleared = run.feed()  // t = 7, off-delay 0
        #expect(cleared.map(\.kind) == [.cleared, .excursion])
        let excursion = try #require(cleared.last?.excursion)
        #expect(excursion.alarm == faultAlarm)
        #expect(excursion.start == epoch.addingTimeInterval(3))
        #expect(excursion.duration == .seconds(4))
        #expect(run.state(faultAlarm) == .returnedUnacknowledged)
    }

    @Test("a status raises its alarm while its label is one of the listed ones; the event names the label")
    func statusLabels() throws {
        let run = try FlagRun()
        run.status = 2
        run.feed(seconds: 6)  // t = 0...5: raised at t = 5
        let raised = try #require(run.kinds(.raised).first)
        #expect(raised.alarm == statusAlarm)
        #expect(raised.priority == .high)
        #expect(raised.label == "warning")
        #expect(raised.summary.contains("value=warning"))
        run.status = 3  // another listed label: stays standing, no new event
        run.feed(seconds: 5)
        #expect(run.kinds(.raised, .escalated, .cleared).count == 1)
        run.status = 1
        run.feed(seconds: 2)  // off-delay 2 s: not before t = 13
        #expect(run.kinds(.cleared).isEmpty)
        run.feed()
        #expect(run.kinds(.cleared).count == 1)
        #expect(run.kinds(.excursion).first?.excursion?.worstLevel == .alert)
    }

    @Test("a latched alarm stays active after its condition returns until an operator resets it")
    func latchAndReset() throws {
        let run = try FlagRun()
        run.doorClosed = false
        let raised = run.feed()
        #expect(raised.first?.kind == .raised)
        #expect(raised.first?.level == .action)
        #expect(throws: ControlError.conditionStands(doorAlarm), performing: {
            try run.engine.reset(doorAlarm, user: "op", reason: "closed", at: run.now)
        })
        run.doorClosed = true
        let cleared = run.feed()
        #expect(cleared.map(\.kind) == [.cleared, .excursion])
        #expect(cleared.first?.state == .latched)
        let snapshot = try #require(run.snapshot(doorAlarm))
        #expect(snapshot.state == .latched)
        #expect(snapshot.isActive)
        #expect(snapshot.activeSince == epoch)
        run.feed(seconds: 10)
        #expect(run.state(doorAlarm) == .latched, "the latch holds however long the condition stays clear")

        _ = try run.engine.acknowledge(doorAlarm, user: "op", reason: "seen", at: run.now)
        #expect(run.state(doorAlarm) == .latched)
        #expect(run.snapshot(doorAlarm)?.acknowledgedBy == "op")
        #expect(throws: ControlError.reasonRequired, performing: { try run.engine.reset(doorAlarm, user: "op", reason: " ", at: run.now) })
        let reset = try run.engine.reset(doorAlarm, user: "op", reason: "door closed, sterility checked", at: run.now)
        #expect(reset.map(\.kind) == [.reset])
        #expect(reset.first?.user == "op")
        #expect(reset.first?.state == .normal)
        #expect(run.snapshot(doorAlarm) == nil)
        #expect(throws: ControlError.notLatched(doorAlarm), performing: {
            try run.engine.reset(doorAlarm, user: "op", reason: "again", at: run.now)
        })
    }

    @Test("a reset before acknowledgement leaves the alarm to be acknowledged")
    func resetKeepsAcknowledgementOwed() throws {
        let run = try FlagRun()
        run.doorClosed = false
        run.feed()
        run.doorClosed = true
        run.feed()
        _ = try run.engine.reset(doorAlarm, user: "op", reason: "closed", at: run.now)
        #expect(run.state(doorAlarm) == .returnedUnacknowledged)
    }

    @Test("a latched condition that comes back is raised again; the batch end releases the latch")
    func latchAgainAndBatchEnd() throws {
        let run = try FlagRun()
        run.doorClosed = false
        run.feed()
        run.doorClosed = true
        run.feed()
        run.doorClosed = false
        run.feed()
        #expect(run.kinds(.raised).count == 2)
        #expect(run.state(doorAlarm) == .unacknowledged)
        run.doorClosed = true
        run.feed()
        let ended = try run.engine.endBatch(device: "r1", user: "op", at: run.now)
        #expect(ended.map(\.kind) == [.reset, .batchEnded])
        #expect(ended.first?.reason == "batch ended")
        #expect(run.state(doorAlarm) == .returnedUnacknowledged)
    }

    @Test("a limit rule may latch too")
    func latchedLimit() throws {
        var limits = temperatureLimits
        limits.latch = true
        let run = try Run(spec: makeSpec(temperature: limits))
        run.feed(38.5, seconds: 31)
        run.feed(37.0, seconds: 11)
        #expect(run.kinds(.cleared).count == 1)
        #expect(run.state(run.limitAlarm) == .latched)
        _ = try run.engine.reset(run.limitAlarm, user: "op", reason: "heater replaced", at: run.now)
        #expect(run.state(run.limitAlarm) == .returnedUnacknowledged)
    }

    @Test("an alarm out of service is evaluated and recorded but not annunciated, and comes back unacknowledged")
    func outOfServiceAlarm() throws {
        let run = try FlagRun()
        let taken = try run.engine.setOutOfService(.alarm(faultAlarm), user: "tech", reason: "probe replaced", at: run.now)
        #expect(taken.map(\.kind) == [.outOfService])
        #expect(taken.first?.state == .outOfService)
        #expect(run.engine.outOfService().map(\.target) == [.alarm(faultAlarm)])
        #expect(run.snapshot(faultAlarm)?.state == .outOfService, "listed until returned")
        #expect(throws: ControlError.alreadyOutOfService(faultAlarm.description), performing: {
            try run.engine.setOutOfService(.alarm(faultAlarm), user: "tech", reason: "again", at: run.now)
        })
        run.sensorFault = true
        run.feed()
        #expect(run.engine.pendingAlarms().isEmpty, "not annunciated when it stands, so not shown as pending")
        run.feed(seconds: 3)
        let raised = try #require(run.kinds(.raised).first)
        #expect(raised.state == .outOfService)
        #expect(throws: ControlError.nothingToAcknowledge(faultAlarm, .outOfService), performing: {
            try run.engine.acknowledge(faultAlarm, user: "op", reason: "x", at: run.now)
        })
        #expect(throws: ControlError.outOfService(faultAlarm), performing: {
            try run.engine.shelve(faultAlarm, for: .seconds(60), user: "op", reason: "x", at: run.now)
        })
        let back = try run.engine.returnToService(.alarm(faultAlarm), user: "tech", reason: "probe in", at: run.now)
        #expect(back.map(\.kind) == [.inService])
        #expect(back.first?.since == epoch)
        #expect(back.first?.user == "tech")
        #expect(run.state(faultAlarm) == .unacknowledged, "a condition that still stands is annunciated again")
        #expect(run.engine.outOfService().isEmpty)
        #expect(throws: ControlError.notOutOfService(faultAlarm.description), performing: {
            try run.engine.returnToService(.alarm(faultAlarm), user: "tech", reason: "x", at: run.now)
        })
    }

    @Test("a device out of service takes all its alarms, communication included, and lists only the device")
    func outOfServiceDevice() throws {
        let run = try FlagRun()
        _ = try run.engine.setOutOfService(.device("r1"), user: "tech", reason: "maintenance", at: run.now)
        #expect(run.engine.alarms().isEmpty, "quiet alarms of a device out of service are not listed one by one")
        run.status = 3
        run.feed(seconds: 6)
        #expect(run.state(statusAlarm) == .outOfService)
        #expect(run.snapshot(statusAlarm)?.outOfService?.reason == "maintenance")
        #expect(throws: ControlError.unknownDevice("r9"), performing: {
            try run.engine.setOutOfService(.device("r9"), user: "tech", reason: "x", at: run.now)
        })
        run.status = 1
        run.feed(seconds: 3)
        _ = try run.engine.returnToService(.device("r1"), user: "tech", reason: "done", at: run.now)
        #expect(run.state(statusAlarm) == .returnedUnacknowledged)
    }

    @Test("an alarm out of service stays out when its device is registered again (a reload)")
    func outOfServiceAcrossRegister() throws {
        let run = try FlagRun()
        _ = try run.engine.setOutOfService(.alarm(faultAlarm), user: "tech", reason: "WO", at: run.now)
        run.engine.register(device: "r1", profile: flagProfile)
        #expect(run.snapshot(faultAlarm)?.state == .outOfService)
    }

    @Test("text forms of out-of-service targets")
    func targets() {
        #expect(OutOfServiceTarget("r1") == .device("r1"))
        #expect(OutOfServiceTarget("r1/status/discrete") == .alarm(statusAlarm))
        #expect(OutOfServiceTarget("r1/communication") == .alarm(.communication("r1")))
        #expect(OutOfServiceTarget("r1/x") == nil)
        #expect(OutOfServiceTarget("") == nil)
    }
}

@Suite("Event fixes: sides, since, phase reasons")
struct EventFixTests {
    @Test("stale and communication events carry no side; limit events do")
    func sides() throws {
        var limits = temperatureLimits
        limits.staleAfter = .seconds(3)
        let run = try Run(spec: makeSpec(temperature: limits))
        run.feed(37.0, seconds: 5)
        let stale = try #require(run.kinds(.raised).first { $0.alarm?.kind == .stale })
        #expect(stale.side == nil)
        #expect(!stale.summary.contains("side="))
        for _ in 0..<3 { run.feed(temperature: nil) }
        let lost = try #require(run.kinds(.communicationLost).first)
        #expect(lost.side == nil)
    }

    @Test("a returned alarm still owed an acknowledgement keeps the time it went active")
    func returnedKeepsSince() throws {
        let run = try Run()
        run.feed(38.5, seconds: 31)
        run.feed(37.0, seconds: 11)
        let returned = try #require(run.engine.alarms().first { $0.id == run.limitAlarm })
        #expect(returned.state == .returnedUnacknowledged)
        #expect(returned.activeSince == epoch.addingTimeInterval(30))
        _ = try run.engine.acknowledge(run.limitAlarm, user: "op", reason: "seen", at: run.now)
        #expect(run.engine.alarms().isEmpty)
    }

    @Test("a phase change by an operator carries the reason given")
    func phaseReason() throws {
        let run = try Run()
        let events = try run.engine.changePhase(device: "r1", to: "harvest", user: "op", reason: "harvest day", at: run.now)
        #expect(events.last?.kind == .phaseChanged)
        #expect(events.last?.reason == "harvest day")
        #expect(events.last?.summary.contains("reason=\"harvest day\"") == true)
    }
}

@Suite("Discrete alarm properties")
struct DiscreteAlarmPropertyTests {
    @Test("a discrete alarm stands exactly when the flag has held its alarm value for the on-delay")
    func standsAfterOnDelay() async {
        let stream = zip(Gen.bool, Gen.int(in: 1...12)).array(of: 1...30)
        await propertyCheck(count: 150, input: stream, Gen.int(in: 0...8)) { runs, onDelay in
            var rule = faultRule
            rule.onDelay = .seconds(Int64(onDelay))
            let run = try FlagRun([rule])
            var flags: [Bool] = []
            for (flag, length) in runs {
                run.sensorFault = flag
                run.feed(seconds: length)
                flags += Array(repeating: flag, count: length)
            }
            for raised in run.kinds(.raised) {
                let t = Int(raised.time.timeIntervalSince(epoch))
                #expect(t >= onDelay)
                for s in (t - onDelay)...t { #expect(flags[s], "flag clear at \(s) s before the alarm stood at \(t) s") }
            }
            // The alarm stands at the end exactly when the last run of true lasted past the on-delay
            // (off-delay 0: a false sample clears it).
            var lastRun = 0
            for flag in flags.reversed() { if flag { lastRun += 1 } else { break } }
            let standing = run.engine.alarms().contains { $0.id == faultAlarm && $0.level != .normal }
            #expect(standing == (lastRun > onDelay), "last run \(lastRun) s, on-delay \(onDelay) s")
            #expect(run.kinds(.excursion).count == run.kinds(.cleared).count)
        }
    }

    @Test("out of service changes what is annunciated, never what is evaluated or recorded")
    func outOfServiceOnlyHides() async {
        let stream = zip(Gen.bool, Gen.int(in: 1...8)).array(of: 1...20)
        await propertyCheck(count: 100, input: stream, Gen.int(in: 0...60), Gen.int(in: 0...60)) { runs, a, b in
            let (from, to) = (min(a, b), max(a, b))
            let plain = try FlagRun([faultRule])
            let maintained = try FlagRun([faultRule])
            var second = 0
            for (flag, length) in runs {
                for _ in 0..<length {
                    if second == from {
                        _ = try maintained.engine.setOutOfService(.alarm(faultAlarm), user: "tech", reason: "WO", at: maintained.now)
                    }
                    if second == to && to > from {
                        _ = try maintained.engine.returnToService(.alarm(faultAlarm), user: "tech", reason: "done", at: maintained.now)
                    }
                    plain.sensorFault = flag
                    maintained.sensorFault = flag
                    plain.feed()
                    maintained.feed()
                    let p = plain.snapshot(faultAlarm), m = maintained.snapshot(faultAlarm)
                    #expect((p?.level ?? .normal) == (m?.level ?? .normal), "evaluated the same at \(second) s")
                    let out = second >= from && (second < to || to == from)
                    if out { #expect(m?.state == .outOfService, "listed as out of service at \(second) s") }
                    second += 1
                }
            }
            let transitions: Set<ControlEvent.Kind> = [.raised, .cleared, .excursion]
            #expect(plain.events.filter { transitions.contains($0.kind) }.map(\.time)
                == maintained.events.filter { transitions.contains($0.kind) }.map(\.time), "the same transitions recorded")
        }
    }

    @Test("a latched alarm never returns to normal without a reset, whatever the flag does")
    func latchHolds() async {
        await propertyCheck(count: 100, input: Gen.bool.array(of: 1...60)) { flags in
            var rule = faultRule
            rule.latch = true
            rule.onDelay = .zero
            let run = try FlagRun([rule])
            var raised = false
            for flag in flags {
                run.sensorFault = flag
                run.feed()
                raised = raised || flag
                if raised { #expect(run.snapshot(faultAlarm)?.isActive == true) }
            }
            #expect(run.kinds(.reset).isEmpty)
        }
    }
}
