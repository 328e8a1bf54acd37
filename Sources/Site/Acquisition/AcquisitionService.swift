import Logging
import POCareCore

/// Runs one poller per configured device; every sample goes to `sink`, from the pollers' own
/// threads, so the consumer can merge samples with its other inputs in one stream.
public final class AcquisitionService: Sendable {
    public let pollers: [DevicePoller]

    public init(config: SiteConfig, sink: @escaping @Sendable (Sample) -> Void) {
        self.pollers = config.devices.map { device in DevicePoller(settings: .init(device), onSample: sink) }
    }

    public func start() {
        for poller in pollers { poller.start() }
    }

    /// Stops every poller at its next cycle boundary and waits until all have: all are asked
    /// first, so stopping takes one cycle, not one cycle per device.
    public func stop() {
        for poller in pollers { poller.requestStop() }
        for poller in pollers { poller.stop() }
    }
}
