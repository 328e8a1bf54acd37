import Logging
import POCareCore

/// Runs one poller per configured device and merges their samples into one stream.
public final class AcquisitionService: Sendable {
    public let pollers: [DevicePoller]
    public let samples: AsyncStream<Sample>
    private let continuation: AsyncStream<Sample>.Continuation

    public init(config: SiteConfig) {
        // Unbounded: the consumer is the in-process pipeline, which must see every sample.
        let (stream, continuation) = AsyncStream<Sample>.makeStream(bufferingPolicy: .unbounded)
        self.samples = stream
        self.continuation = continuation
        self.pollers = config.devices.map { device in
            DevicePoller(settings: .init(device)) { continuation.yield($0) }
        }
    }

    /// Hands every sample to `sink` (from the pollers' threads) instead of the `samples` stream,
    /// for a consumer that merges samples with other inputs.
    public init(config: SiteConfig, sink: @escaping @Sendable (Sample) -> Void) {
        let (stream, continuation) = AsyncStream<Sample>.makeStream()
        self.samples = stream
        self.continuation = continuation
        self.pollers = config.devices.map { device in DevicePoller(settings: .init(device), onSample: sink) }
    }

    public func start() {
        for poller in pollers { poller.start() }
    }

    /// Stops every poller at its next cycle boundary, then ends the sample stream.
    public func stop() {
        for poller in pollers { poller.stop() }
        continuation.finish()
    }
}
