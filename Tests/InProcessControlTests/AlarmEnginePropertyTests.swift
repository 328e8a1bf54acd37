import Foundation
import InProcessControl
import POCareCore
import PropertyBased
import Testing

@Suite("Alarm engine properties")
struct AlarmEnginePropertyTests {
    @Test("random in-range data never produces an alarm event")
    func inRangeNeverAlarms() async {
        await propertyCheck(count: 100, input: Gen.double(in: 36.5...37.5).array(of: 1...300)) { values in
            let run = try Run()
            run.feed(values)
            #expect(run.events.map(\.kind) == [.batchStarted])
        }
    }

    @Test("an alarm never stands before the value has been out of range for its on-delay")
    func neverBeforeOnDelay() async {
        // Runs of out-of-range and in-range values of random lengths.
        let stream = zip(Gen.double(in: 35.0...39.0), Gen.int(in: 1...50)).array(of: 1...30)
        await propertyCheck(count: 150, input: stream, Gen.int(in: 0...40)) { runs, onDelay in
            var limits = temperatureLimits
            limits.onDelay = .seconds(Int64(onDelay))
            let run = try Run(spec: makeSpec(temperature: limits))
            var values: [Double] = []
            for (value, length) in runs { values += Array(repeating: value, count: length) }
            run.feed(values)
            for raised in run.kinds(.raised) {
                let t = Int(raised.time.timeIntervalSince(epoch))
                #expect(t >= onDelay, "raised at \(t) s with an on-delay of \(onDelay) s")
                for s in (t - onDelay)...t {
                    #expect(values[s] < 36.5 || values[s] > 37.5, "value \(values[s]) at \(s) s was in range")
                }
            }
        }
    }

    @Test("every raised alarm either clears or is still active at the end, and transitions are well-formed")
    func raisedAlarmsResolve() async {
        let stream = zip(Gen.double(in: 35.0...39.0), Gen.int(in: 1...40)).array(of: 1...40)
        await propertyCheck(count: 150, input: stream) { runs in
            let run = try Run()
            for (value, length) in runs { run.feed(value, seconds: length) }
            var active = false
            var level = AlarmLevel.normal
            for event in run.events where event.alarm == run.limitAlarm {
                switch event.kind {
                case .raised:
                    #expect(!active)
                    active = true
                case .escalated:
                    #expect(active && event.level! > level)
                case .deescalated:
                    #expect(active && event.level! < level && event.level! != .normal)
                case .cleared:
                    #expect(active)
                    active = false
                default: break
                }
                if let l = event.level, event.kind != .acknowledged { level = l }
            }
            let stillActive = run.engine.alarms().contains { $0.id == run.limitAlarm && $0.level != .normal }
            #expect(stillActive == active)
            let excursions = run.kinds(.excursion).count
            #expect(excursions == run.kinds(.cleared).count, "one excursion record per cleared alarm")
        }
    }
}
