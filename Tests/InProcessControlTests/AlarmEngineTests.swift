import Foundation
import InProcessControl
import POCareCore
import Testing

@Suite("Alarm engine transitions")
struct AlarmEngineTests {
    @Test("values inside the range produce no alarm events")
    func inRangeIsQuiet() throws {
        let run = try Run()
        run.feed([37.0, 37.2, 36.8, 37.4, 36.6], )
        #expect(run.events.map(\.kind) == [.batchStarted])
    }

    @Test("an alarm stands only once the value has been out of range for the on-delay")
    func onDelay() throws {
        let run = try Run()
        run.feed(37.0, seconds: 5)
        run.feed(37.8, seconds: 30)  // t = 5 ... 34: 29 s after the first out-of-range sample
        #expect(run.kinds(.raised).isEmpty)
        let raised = run.feed(temperature: 37.8)  // t = 35: 30 s
        #expect(raised.map(\.kind) == [.raised])
        #expect(raised.first?.level == .alert)
        #expect(raised.first?.side == .high)
        #expect(raised.first?.limit == 37.5)
        #expect(raised.first?.time == epoch.addingTimeInterval(35))
        #expect(raised.first?.specFingerprint == makeSpec().fingerprint)
        #expect(raised.first?.batchId == "B-1")
        #expect(raised.first?.phase == "expansion")
        #expect(run.state(run.limitAlarm) == .unacknowledged)
    }

    @Test("a dip shorter than the on-delay raises nothing and records no excursion")
    func shortDip() throws {
        let run = try Run()
        run.feed(37.9, seconds: 29)
        run.feed(37.0, seconds: 20)
        #expect(run.events.map(\.kind) == [.batchStarted])
    }

    @Test("alert escalates to action and back, then clears after the off-delay with an excursion record")
    func escalateAndClear() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)  // raised alert at t = 30
        run.feed(38.6, seconds: 31)  // action from t = 31, escalated at t = 61
        run.feed(37.9, seconds: 10)  // back to alert at t = 62, de-escalated at t = 72
        run.feed(37.0, seconds: 11)  // in range from t = 72, cleared at t = 82
        #expect(run.kinds(.raised, .escalated, .deescalated, .cleared).map(\.kind)
            == [.raised, .escalated, .deescalated, .cleared])
        #expect(run.kinds(.escalated).first?.limit == 38)
        #expect(run.kinds(.escalated).first?.time == epoch.addingTimeInterval(61))
        #expect(run.kinds(.deescalated).first?.time == epoch.addingTimeInterval(72))
        #expect(run.kinds(.cleared).first?.time == epoch.addingTimeInterval(82))

        let excursion = try #require(run.kinds(.excursion).first?.excursion)
        #expect(excursion.start == epoch)
        #expect(excursion.end == epoch.addingTimeInterval(82))
        #expect(excursion.duration == .seconds(82))
        #expect(excursion.worstValue == 38.6)
        #expect(excursion.worstLevel == .action)
        #expect(excursion.side == .high)
        #expect(excursion.phase == "expansion")
        // 0.4 over 37.5 for 30 s, a step to 1.1 over for 31 s, back to 0.4 for 10 s, then in range.
        let expected = 0.4 * 30 + (0.4 + 1.1) / 2 + 1.1 * 30 + (1.1 + 0.4) / 2 + 0.4 * 9 + (0.4 + 0) / 2
        #expect(abs(excursion.areaOutside - expected) < 1e-9)
    }

    @Test("a value returning for less than the off-delay keeps the alarm standing")
    func offDelay() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        run.feed(37.0, seconds: 9)
        run.feed(37.9, seconds: 5)
        #expect(run.kinds(.cleared).isEmpty)
        #expect(run.kinds(.raised).count == 1)
    }

    @Test("chatter inside the deadband neither clears nor re-raises the alarm")
    func deadbandChatter() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        for _ in 0..<30 { run.feed([37.45, 37.55]) }  // around 37.5, within the 0.1 deadband
        #expect(run.kinds(.raised).count == 1)
        #expect(run.kinds(.cleared).isEmpty)
        run.feed(37.3, seconds: 11)  // inside by more than the deadband
        #expect(run.kinds(.cleared).count == 1)
    }

    @Test("acknowledging needs a reason and names the user; a returned alarm waits for its acknowledgement")
    func acknowledgement() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        #expect(throws: ControlError.reasonRequired) {
            try run.engine.acknowledge(run.limitAlarm, user: "alice", reason: " ", at: run.now)
        }
        let ack = try run.engine.acknowledge(run.limitAlarm, user: "alice", reason: "heater checked", at: run.now)
        #expect(ack.first?.kind == .acknowledged)
        #expect(ack.first?.user == "alice")
        #expect(ack.first?.reason == "heater checked")
        #expect(run.state(run.limitAlarm) == .acknowledged)
        #expect(throws: ControlError.nothingToAcknowledge(run.limitAlarm, .acknowledged)) {
            try run.engine.acknowledge(run.limitAlarm, user: "alice", reason: "again", at: run.now)
        }
        run.feed(38.5, seconds: 31)  // escalation asks for a new acknowledgement
        #expect(run.state(run.limitAlarm) == .unacknowledged)
        run.feed(37.0, seconds: 11)
        #expect(run.state(run.limitAlarm) == .returnedUnacknowledged)
        _ = try run.engine.acknowledge(run.limitAlarm, user: "bob", reason: "seen", at: run.now)
        #expect(run.state(run.limitAlarm) == .normal)
        #expect(run.engine.alarms().isEmpty)
    }

    @Test("a shelved alarm comes back when the shelf expires and is annunciated again if still active")
    func shelvingExpiry() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        let shelved = try run.engine.shelve(run.limitAlarm, for: .seconds(20), user: "alice", reason: "probe swap", at: run.now)
        #expect(shelved.first?.until == run.now.wall.addingTimeInterval(20))
        #expect(run.state(run.limitAlarm) == .shelved)
        run.feed(37.9, seconds: 19)
        #expect(run.kinds(.unshelved).isEmpty)
        run.feed(37.9, seconds: 2)
        let unshelved = try #require(run.kinds(.unshelved).first)
        #expect(unshelved.user == ControlEngine.systemUser)
        #expect(unshelved.reason == "shelving expired")
        #expect(run.state(run.limitAlarm) == .unacknowledged)
        #expect(throws: ControlError.notShelved(run.limitAlarm)) {
            try run.engine.unshelve(run.limitAlarm, user: "a", reason: "r", at: run.now)
        }
        #expect(throws: ControlError.invalidShelveDuration(.seconds(100_000))) {
            try run.engine.shelve(run.limitAlarm, for: .seconds(100_000), user: "a", reason: "r", at: run.now)
        }
    }

    @Test("a rate of change above the limit raises a rate alarm even inside the range")
    func rateOfChange() throws {
        var limits = temperatureLimits
        limits.maxRatePerMinute = 1.0
        limits.onDelay = .seconds(2)
        let run = try Run(spec: makeSpec(temperature: limits))
        run.feed(36.6, seconds: 3)
        run.feed([36.65, 36.7, 36.75, 36.8])  // 3 °C per minute
        let raised = try #require(run.kinds(.raised).first)
        #expect(raised.alarm == AlarmID(device: "r1", parameter: "temperature", kind: .rate))
        #expect(abs((raised.value ?? 0) - 3.0) < 1e-6)
        #expect(raised.limit == 1.0)
        run.feed(36.8, seconds: 12)
        #expect(run.kinds(.cleared).first?.alarm?.kind == .rate)
        #expect(run.kinds(.raised).allSatisfy { $0.alarm?.kind == .rate })
    }

    @Test("a value that does not move for the stale time raises a stale alarm, cleared when it moves")
    func staleValue() throws {
        var limits = temperatureLimits
        limits.staleAfter = .seconds(60)
        let run = try Run(spec: makeSpec(temperature: limits))
        run.feed(37.0, seconds: 60)
        #expect(run.kinds(.raised).isEmpty)
        run.feed(temperature: 37.0)
        #expect(run.kinds(.raised).first?.alarm?.kind == .stale)
        run.feed(temperature: 37.01)
        #expect(run.kinds(.cleared).first?.alarm?.kind == .stale)
    }

    @Test("no good value for N polls is communication loss; the first good value restores it")
    func communicationLoss() throws {
        let run = try Run(spec: makeSpec(lossPolls: 3))
        run.feed(37.0, seconds: 2)
        run.feed(temperature: nil)
        run.feed(temperature: nil)
        #expect(run.kinds(.communicationLost).isEmpty)
        run.feed(temperature: nil)
        let lost = try #require(run.kinds(.communicationLost).first)
        #expect(lost.alarm == .communication("r1"))
        #expect(lost.time == epoch.addingTimeInterval(4))
        #expect(run.state(.communication("r1")) == .unacknowledged)
        run.feed(temperature: 37.0)
        #expect(run.kinds(.communicationRestored).count == 1)
        #expect(run.state(.communication("r1")) == .returnedUnacknowledged)
    }

    @Test("a failed read holds the alarm where it is; it neither raises nor clears it")
    func badReadsHoldState() throws {
        let run = try Run(spec: makeSpec(lossPolls: 100))
        run.feed(37.9, seconds: 31)
        for _ in 0..<30 { run.feed(temperature: nil) }
        #expect(run.kinds(.cleared).isEmpty)
        #expect(run.state(run.limitAlarm) == .unacknowledged)
    }

    @Test("a phase change mid-excursion closes the excursion in the old phase and opens one in the new")
    func phaseChangeMidExcursion() throws {
        var harvest = temperatureLimits
        harvest.alertHigh = 37.6
        harvest.actionHigh = 38.5
        let run = try Run(spec: makeSpec(harvestTemperature: harvest))
        run.feed(37.9, seconds: 40)
        let changed = try run.engine.changePhase(device: "r1", to: "harvest", user: "alice", at: run.now)
        #expect(changed.map(\.kind) == [.excursion, .phaseChanged])
        let first = try #require(changed.first?.excursion)
        #expect(first.phase == "expansion")
        #expect(first.duration == .seconds(40))
        #expect(changed.last?.previousPhase == "expansion")
        #expect(changed.last?.phase == "harvest")
        #expect(changed.last?.user == "alice")
        run.feed(37.9, seconds: 5)
        run.feed(37.0, seconds: 11)
        let records = (changed + run.kinds(.excursion)).compactMap(\.excursion)
        #expect(records.map(\.phase) == ["expansion", "harvest"])
        #expect(records.last?.start == epoch.addingTimeInterval(40))
    }

    @Test("a phase without a limit for the parameter suppresses its alarm by design")
    func phaseWithoutLimit() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        let changed = try run.engine.changePhase(device: "r1", to: "harvest", at: run.now)
        #expect(changed.map(\.kind) == [.excursion, .suppressed, .phaseChanged])
        run.feed(40.0, seconds: 60)
        #expect(run.kinds(.raised).count == 1)
        #expect(run.engine.alarms().isEmpty == false, "the unacknowledged alarm is not lost")
    }

    @Test("while the device reports it is not running, alarms are suppressed by design")
    func notRunningSuppresses() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        run.running = false
        run.feed(37.9, seconds: 1)
        #expect(run.kinds(.suppressed).count == 1)
        #expect(run.kinds(.excursion).count == 1)
        run.feed(39.0, seconds: 60)
        #expect(run.kinds(.raised).count == 1)
        run.running = true
        run.feed(37.0, seconds: 5)
        #expect(run.kinds(.unsuppressed).count == 1)
        #expect(run.state(run.limitAlarm) == .returnedUnacknowledged, "the unacknowledged alarm still waits for an operator")
    }

    @Test("the phase can follow the phase code the device reports")
    func phaseFollowsDevice() throws {
        let run = try Run(spec: makeSpec(harvestTemperature: temperatureLimits), followDevicePhase: true)
        run.feed(37.0, seconds: 2)
        run.phaseCode = 4
        run.feed(temperature: 37.0)
        let change = try #require(run.kinds(.phaseChanged).first)
        #expect(change.previousPhase == "expansion")
        #expect(change.phase == "harvest")
        #expect(change.user == nil)
        #expect(run.engine.batch(of: "r1")?.phase == "harvest")
        run.phaseCode = 1  // a phase the spec does not define is ignored
        run.feed(temperature: 37.0)
        #expect(run.engine.batch(of: "r1")?.phase == "harvest")
    }

    @Test("an alarm whose check the new phase drops is suppressed, not left standing")
    func phaseDropsStaleCheck() throws {
        var limits = temperatureLimits
        limits.staleAfter = .seconds(10)
        var harvest = temperatureLimits
        harvest.staleAfter = nil
        let run = try Run(spec: makeSpec(temperature: limits, harvestTemperature: harvest))
        run.feed(37.0, seconds: 12)
        #expect(run.kinds(.raised).first?.alarm?.kind == .stale)
        let changed = try run.engine.changePhase(device: "r1", to: "harvest", at: run.now)
        #expect(changed.contains { $0.kind == .suppressed && $0.alarm?.kind == .stale })
        #expect(run.engine.alarms().allSatisfy { $0.level == .normal })
    }

    @Test("a new batch is not suppressed by the previous batch's stopped device")
    func newBatchStartsUnsuppressed() throws {
        let run = try Run()
        run.running = false
        run.feed(37.0, seconds: 2)
        _ = try run.engine.endBatch(device: "r1", at: run.now)
        run.running = true
        _ = try run.engine.startBatch(device: "r1", batchId: "B-2", spec: makeSpec(), at: run.now)
        run.feed(38.5, seconds: 31)
        #expect(run.kinds(.raised).first?.state == .unacknowledged)
    }

    @Test("the worst level of an excursion is the level the alarm stood at, not a short spike")
    func worstLevelIsStandingLevel() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        run.feed(38.6, seconds: 3)  // shorter than the on-delay: no escalation
        run.feed(37.0, seconds: 11)
        #expect(run.kinds(.escalated).isEmpty)
        #expect(run.kinds(.excursion).first?.excursion?.worstLevel == .alert)
        #expect(run.kinds(.excursion).first?.excursion?.worstValue == 38.6)
    }

    @Test("a value falling from action straight into range clears after the off-delay")
    func actionStraightToNormal() throws {
        let run = try Run()
        run.feed(38.6, seconds: 31)
        run.feed(37.0, seconds: 11)
        #expect(run.kinds(.raised, .escalated, .deescalated, .cleared).map(\.kind) == [.raised, .cleared])
        #expect(run.kinds(.cleared).first?.time == epoch.addingTimeInterval(41))
    }

    @Test("batch operations refuse what does not fit")
    func batchErrors() throws {
        let run = try Run()
        #expect(throws: ControlError.batchRunning(device: "r1", batch: "B-1")) {
            try run.engine.startBatch(device: "r1", batchId: "B-2", spec: makeSpec(), at: run.now)
        }
        #expect(throws: ControlError.unknownPhase("drying", known: ["expansion", "harvest"])) {
            try run.engine.changePhase(device: "r1", to: "drying", at: run.now)
        }
        #expect(throws: ControlError.unknownDevice("r9")) {
            try run.engine.endBatch(device: "r9", at: run.now)
        }
        var other = makeSpec()
        other.identity.profiles = ["another-model"]
        run.engine.register(device: "r2", profile: testProfile)
        #expect(throws: ControlError.specNotForProfile(spec: "IPC-TEST", profile: "test-reactor")) {
            try run.engine.startBatch(device: "r2", batchId: "B-3", spec: other, at: run.now)
        }
    }

    @Test("ending a batch records what still stands as open at batch end, never as cleared, keeping it to acknowledge")
    func endBatch() throws {
        let run = try Run()
        run.feed(37.9, seconds: 31)
        let ended = try run.engine.endBatch(device: "r1", user: "alice", reason: "run complete", at: run.now)
        #expect(ended.map(\.kind) == [.excursion, .openAtBatchEnd, .batchEnded])
        let excursion = try #require(ended.first?.excursion)
        #expect(excursion.openAtBatchEnd && excursion.duration > .zero, "marked as cut short, with its duration so far")
        #expect(ended[1].alarm == run.limitAlarm && ended[1].previousLevel == .alert)
        #expect(ended.last?.reason == "run complete" && ended.last?.user == "alice")
        #expect(run.state(run.limitAlarm) == .returnedUnacknowledged)
        run.feed(40.0, seconds: 40)
        #expect(run.kinds(.raised).count == 1, "no batch, no evaluation")
    }

    @Test("a shelve ends with its batch; the next batch annunciates the alarm again")
    func shelveScopedToBatch() throws {
        let run = try Run()
        _ = try run.engine.shelve(run.limitAlarm, for: .seconds(7200), user: "alice", reason: "probe swap", at: run.now)
        let ended = try run.engine.endBatch(device: "r1", user: "alice", reason: "done", at: run.now)
        #expect(ended.contains { $0.kind == .unshelved && $0.alarm == run.limitAlarm && $0.reason == "batch ended" })
        _ = try run.engine.startBatch(device: "r1", batchId: "B-2", spec: makeSpec(), user: "alice", reason: "next", at: run.now)
        run.feed(37.9, seconds: 31)
        #expect(run.state(run.limitAlarm) == .unacknowledged, "raised, not silently shelved")
    }

    @Test("a change to the phase the batch is in is refused, and a phase change carries its reason")
    func samePhase() throws {
        let run = try Run()
        let phase = try #require(run.engine.batch(of: "r1")?.phase)
        #expect(throws: ControlError.samePhase(phase)) {
            try run.engine.changePhase(device: "r1", to: phase, user: "alice", reason: "again", at: run.now)
        }
    }

    @Test("a resumed batch says which interval nobody watched")
    func resumed() throws {
        let run = try Run()
        let batch = try #require(run.engine.batch(of: "r1"))
        _ = try run.engine.endBatch(device: "r1", at: run.now)
        let lastSeen = run.now.wall.addingTimeInterval(-29)
        let events = try run.engine.startBatch(
            device: "r1", batchId: batch.batchId, spec: batch.spec, phase: batch.phase, resumingAfter: lastSeen, at: run.now)
        #expect(events.map(\.kind) == [.batchResumed])
        #expect(events[0].since == lastSeen && events[0].until == run.now.wall)
    }

    @Test("alarm ids read and print as device/parameter/kind")
    func alarmIds() {
        #expect(AlarmID("r1/temperature/limit") == AlarmID(device: "r1", parameter: "temperature", kind: .limit))
        #expect(AlarmID("r1/communication") == .communication("r1"))
        #expect(AlarmID("r1/temperature") == nil)
        #expect(AlarmID("r1/temperature/loud") == nil)
        #expect(AlarmID(device: "r1", parameter: "ph", kind: .stale).description == "r1/ph/stale")
    }
}
