import Acquisition
import BioreactorSimulator
import Foundation
import POCareCore
import Testing
import TestSupport

/// Units the shipped profiles must agree on, so one IPC spec can hold every device to the same limits.
let expectedUnits: [String: String] = [
    "temperature": "Cel", "chamber_temperature": "Cel", "temperature_setpoint": "Cel", "ph": "[pH]",
    "ph_setpoint": "[pH]", "dissolved_oxygen": "%", "dissolved_oxygen_setpoint": "%", "co2": "%",
    "agitation": "/min", "agitation_speed": "/min", "rocking_rate": "/min", "viable_cell_density": "10*6/mL",
    "viability": "%", "culture_volume": "mL", "feed_volume": "mL", "glucose": "g/L", "lactate": "g/L",
]

@Suite("Acquisition against the simulator over TCP", .serialized)
struct AcquisitionAgainstSimulatorTests {
    @Test("every parameter of every shipped profile is read back with the served value and its unit",
          arguments: shippedProfileNames)
    func readsEveryParameter(profileName: String) async throws {
        let profile = try shippedProfile(profileName)
        let device = try startSimulator("dev", profile: profile)
        defer { device.stop() }
        let collector = SampleCollector()
        let poller = poller(for: device, collector: collector)
        poller.start()
        defer { poller.stop() }

        #expect(await collector.wait { $0.contains(where: \.allGood) })
        let sample = try #require(collector.all.first(where: { $0.allGood }))
        let served = device.servedValues
        #expect(sample.readings.count == profile.parameters.count)
        for parameter in profile.parameters {
            let reading = try #require(sample.reading(parameter.id))
            let truth = try #require(served[parameter.id], "simulator serves \(parameter.id)")
            let value = try #require(reading.value, "\(parameter.id) has a value")
            switch (value, truth) {
            case (.number(let got), .number(let want)):
                // Quantisation by the register's scale, and float32's 24-bit mantissa.
                let tolerance = abs(parameter.scale) / 2 + abs(want) * 1e-6
                #expect(abs(got - want) <= tolerance, "\(profileName).\(parameter.id): read \(got), served \(want)")
            case (.flag(let got), .flag(let want)):
                #expect(got == want, "\(profileName).\(parameter.id)")
            case (.text(let got), .text(let want)):
                #expect(want.hasPrefix(got) && !got.isEmpty, "\(profileName).\(parameter.id): '\(got)' vs '\(want)'")
            default:
                Issue.record("\(profileName).\(parameter.id): read \(value), served \(truth)")
            }
            if let unit = expectedUnits[parameter.id] {
                #expect(parameter.unit == unit, "\(profileName).\(parameter.id) unit")
            }
            if let labels = parameter.enumeration, let code = RegisterCodec.code(of: value, for: parameter) {
                #expect(reading.label == labels[code], "\(parameter.id) carries its enumeration label")
            }
        }
        #expect(poller.statistics.failedRequests == 0, "the plan never touches the unreadable ranges")
    }

    @Test("after the connection drops the poller reports bad communication, then reconnects by itself")
    func reconnectsAfterDrop() async throws {
        let device = try startSimulator("rocker", profile: try shippedProfile("rocking-bag-rb50"))
        defer { device.stop() }
        let collector = SampleCollector()
        let poller = poller(for: device, collector: collector)
        poller.start()
        defer { poller.stop() }
        #expect(await collector.wait { $0.contains(where: \.allGood) })

        device.inject(.connectionDrop, for: .seconds(1))
        #expect(await collector.wait { samples in
            samples.contains { $0.readings.allSatisfy { $0.quality == .badCommunication && $0.value == nil } }
        })
        let outageCycle = try #require(collector.all.last(where: { !$0.allGood })).cycle
        #expect(await collector.wait { samples in samples.contains { $0.cycle > outageCycle && $0.allGood } })
        #expect(poller.statistics.connects >= 2)
        let cycles = collector.all.map(\.cycle)
        #expect(cycles == cycles.sorted() && Set(cycles).count == cycles.count, "one sample per cycle, in order")
    }

    @Test("a Modbus exception marks the parameters of that request bad-device and leaves the rest good")
    func exceptionGivesBadDevice() async throws {
        let profile = try shippedProfile("rocking-bag-rb50")
        let device = try startSimulator("rocker", profile: profile)
        defer { device.stop() }
        device.inject(.exception(code: 4, parameter: "co2"), for: .seconds(60))
        let collector = SampleCollector()
        let poller = poller(for: device, collector: collector)
        poller.start()
        defer { poller.stop() }

        #expect(await collector.wait { $0.count >= 3 })
        let sample = try #require(collector.all.last)
        let plan = ReadPlanner.plan(profile)
        let co2Index = try #require(profile.parameters.firstIndex { $0.id == "co2" })
        let failing = Set(try #require(plan.requests.first { $0.parameterIndexes.contains(co2Index) }).parameterIndexes)
        for (index, parameter) in profile.parameters.enumerated() {
            let quality = sample.reading(parameter.id)?.quality
            #expect(quality == (failing.contains(index) ? .badDevice : .good), "\(parameter.id)")
        }
        #expect(poller.statistics.connects == 1, "an exception is an answer: the link stays up")
    }

    @Test("an offset fault shifts what the device reports by its delta and nothing else")
    func offsetShiftsOneParameter() async throws {
        let profile = try shippedProfile("stirred-tank-str10")
        let device = try startSimulator("str", profile: profile)
        defer { device.stop() }
        let collector = SampleCollector()
        let poller = poller(for: device, collector: collector)
        poller.start()
        defer { poller.stop() }
        #expect(await collector.wait { $0.count >= 1 })
        let before = try #require(collector.all.last)

        device.inject(.offset(parameter: "temperature", delta: 0.5), for: .seconds(60))
        let seen = collector.all.count
        #expect(await collector.wait { $0.count >= seen + 2 })
        let after = try #require(collector.all.last)
        let t0 = try #require(before.reading("temperature")?.value?.number)
        let t1 = try #require(after.reading("temperature")?.value?.number)
        #expect(abs(t1 - t0 - 0.5) < 1e-3, "temperature \(t0) -> \(t1)")
        #expect(after.reading("ph")?.value == before.reading("ph")?.value, "other parameters untouched")
    }

    @Test("a device that stops answering gives bad communication while another keeps its schedule")
    func timeoutDoesNotDelayOtherDevices() async throws {
        var slowProfile = try shippedProfile("stirred-tank-str10")
        slowProfile.modbus.responseTimeout = .milliseconds(200)
        let slow = try startSimulator("slow", profile: slowProfile)
        let healthy = try startSimulator("healthy", profile: try shippedProfile("rocking-bag-rb50"))
        defer {
            slow.stop()
            healthy.stop()
        }
        slow.inject(.slowResponse(delay: .seconds(1)), for: .seconds(60))

        let slowSamples = SampleCollector()
        let healthySamples = SampleCollector()
        let slowPoller = poller(for: slow, collector: slowSamples)
        let healthyPoller = poller(for: healthy, interval: .milliseconds(100), collector: healthySamples)
        slowPoller.start()
        healthyPoller.start()
        #expect(await slowSamples.wait { $0.count >= 3 })
        #expect(await healthySamples.wait { $0.count >= 20 })
        healthyPoller.stop()
        slowPoller.stop()

        let slowReadings = slowSamples.all.flatMap(\.readings)
        #expect(slowReadings.allSatisfy { $0.quality == .badCommunication }, "\(Set(slowReadings.map(\.quality)))")
        let fast = healthySamples.all
        #expect(fast.count >= 10)
        #expect(fast.allSatisfy { $0.allGood })
        #expect(fast.map(\.missedCycles).reduce(0, +) == 0, "no cycle of the healthy device was skipped")
        #expect(fast.map(\.cycle) == Array(0..<UInt64(fast.count)), "every scheduled cycle ran, in order")
    }

    @Test("a device that is not there yet is polled with bad communication until it appears")
    func deviceAppearsLater() async throws {
        let profile = try shippedProfile("cell-processing-cpu1")
        // Take a free port, then release it so nothing listens there yet.
        let placeholder = try startSimulator("placeholder", profile: profile)
        let port = placeholder.port
        placeholder.stop()

        let collector = SampleCollector()
        let settings = DevicePoller.Settings(
            deviceId: "late", profile: profile, host: "127.0.0.1", port: port, unitId: 1,
            interval: .milliseconds(100), reconnectBackoff: .milliseconds(50)...(.milliseconds(200)))
        let poller = DevicePoller(settings: settings) { collector.record($0) }
        poller.start()
        defer { poller.stop() }
        #expect(await collector.wait { $0.count >= 3 })
        #expect(collector.all.allSatisfy { $0.readings.allSatisfy { $0.quality == .badCommunication } })

        let device = try SimulatedDevice(id: "late", profile: profile, host: "127.0.0.1", port: port, model: frozenModel())
        defer { device.stop() }
        #expect(await collector.wait { $0.contains(where: \.allGood) })
    }
}
