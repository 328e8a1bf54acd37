import Acquisition
import BioreactorSimulator
import Foundation
import TestSupport
import POCareConfig
import POCareCore
import Synchronization

func shippedProfile(_ name: String) throws -> DeviceProfile {
    try ProfileLoader.require(path: packageRoot.appendingPathComponent("DeviceProfiles/\(name).yaml").path)
}

let shippedProfileNames = ["rocking-bag-rb50", "stirred-tank-str10", "cell-processing-cpu1"]

/// A culture that does not move and has no noise, so what was served is what must be read.
func frozenModel() -> ProcessModel { ProcessModel(timeScale: 0, noise: false) }

/// A simulated device on a free loopback port.
func startSimulator(_ id: String, profile: DeviceProfile, model: ProcessModel = frozenModel()) throws -> SimulatedDevice {
    try SimulatedDevice(id: id, profile: profile, host: "127.0.0.1", port: 0, model: model)
}

/// Gathers what a poller delivers, from the poller's own thread.
final class SampleCollector: Sendable {
    private let samples = Mutex<[Sample]>([])

    var all: [Sample] { samples.withLock { $0 } }

    func record(_ sample: Sample) { samples.withLock { $0.append(sample) } }

    func clear() { samples.withLock { $0.removeAll() } }

    /// Waits until `condition` holds for the samples so far; gives up after `limit` so a
    /// broken build fails instead of hanging. Returns whether the condition was met.
    func wait(upTo limit: Duration = .seconds(20), until condition: ([Sample]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition(all) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(all)
    }
}

func poller(
    for device: SimulatedDevice, profile: DeviceProfile? = nil, interval: Duration = .milliseconds(100),
    collector: SampleCollector
) -> DevicePoller {
    let settings = DevicePoller.Settings(
        deviceId: device.id, profile: profile ?? device.profile, host: device.host, port: device.port,
        unitId: (profile ?? device.profile).modbus.unitId, interval: interval,
        reconnectBackoff: .milliseconds(50)...(.milliseconds(200)))
    return DevicePoller(settings: settings) { collector.record($0) }
}

extension Sample {
    var allGood: Bool { readings.allSatisfy { $0.quality == .good } }
}
