import Foundation
import Logging
import POCareCore
import Synchronization

/// Polls one device on a thread of its own, on a drift-free schedule.
///
/// Cycle k starts at `start + k * interval`. A cycle that cannot start before the next one is
/// due is skipped and counted, never run late in a burst. While the device is unreachable the
/// schedule keeps running and every cycle reports bad-communication readings, so the rest of
/// the pipeline sees the outage as it happens; reconnects back off exponentially with jitter.
public final class DevicePoller: Sendable {
    public struct Settings: Sendable {
        public var deviceId: String
        public var profile: DeviceProfile
        public var host: String
        public var port: Int
        public var unitId: Int
        public var interval: Duration
        public var reconnectBackoff: ClosedRange<Duration>

        public init(
            deviceId: String, profile: DeviceProfile, host: String, port: Int, unitId: Int, interval: Duration,
            reconnectBackoff: ClosedRange<Duration> = .milliseconds(500)...(.seconds(30))
        ) {
            self.deviceId = deviceId
            self.profile = profile
            self.host = host
            self.port = port
            self.unitId = unitId
            self.interval = interval
            self.reconnectBackoff = reconnectBackoff
        }

        public init(_ device: DeviceConfig) {
            self.init(
                deviceId: device.id, profile: device.profile, host: device.host, port: device.port,
                unitId: device.unitId, interval: device.pollInterval)
        }
    }

    /// Counters an operator or a benchmark can read while the poller runs.
    public struct Statistics: Sendable {
        public var cycles: UInt64 = 0
        public var missedCycles: UInt64 = 0
        public var requests: UInt64 = 0
        public var failedRequests: UInt64 = 0
        public var connects: UInt64 = 0
        public var connected = false
        /// Monotonic time of the last cycle in which every request succeeded.
        public var lastGoodCycle: Int64?
        /// Monotonic time the last cycle ended, good or not: the schedule is running.
        public var lastCycle: Int64?
        /// Time spent working on cycles (connect, read, decode, build the sample; not the
        /// device's required pause between requests), and the
        /// part of it spent inside libmodbus read calls: the difference is our own cost.
        public var busyNanoseconds: Int64 = 0
        public var modbusNanoseconds: Int64 = 0
    }

    public let settings: Settings
    public let plan: ReadPlan
    private let onSample: @Sendable (Sample) -> Void
    private let stopRequested = Atomic<Bool>(false)
    private let thread: DedicatedThread
    private let stats = Mutex(Statistics())

    public init(settings: Settings, onSample: @escaping @Sendable (Sample) -> Void) {
        self.settings = settings
        self.plan = ReadPlanner.plan(settings.profile)
        self.onSample = onSample
        self.thread = DedicatedThread(name: "poll-\(settings.deviceId)")
    }

    public var statistics: Statistics { stats.withLock { $0 } }

    public func start() {
        thread.start { [self] in run() }
    }

    /// Asks the poller to stop at the next cycle boundary, without waiting.
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Asks the poller to stop at the next cycle boundary and waits until it has.
    public func stop() {
        requestStop()
        thread.join()
    }

    private var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    private func run() {
        var logger = Logger(label: "pocare.acquisition")
        logger[metadataKey: "device"] = "\(settings.deviceId)"
        let profile = settings.profile
        let interval = settings.interval.nanoseconds
        let timeout = profile.modbus.responseTimeout
        let pause = profile.modbus.pauseBetweenRequests.nanoseconds
        let largest = max(plan.requests.map(\.range.count).max() ?? 1, 1)
        let registers = UnsafeMutablePointer<UInt16>.allocate(capacity: largest)
        let bits = UnsafeMutablePointer<UInt8>.allocate(capacity: largest)
        defer {
            registers.deallocate()
            bits.deallocate()
        }

        var connection: ModbusConnection?
        var nextConnectAttempt: Int64 = 0
        var failedConnects = 0
        var wasHealthy: Bool?
        let origin = MonotonicClock.now()
        var cycle: UInt64 = 0
        var readings = [Reading?](repeating: nil, count: profile.parameters.count)

        while !isStopping {
            var deadline = origin + Int64(cycle) * interval
            // Sleep in short slices so a stop request is honoured within 100 ms.
            while !isStopping, MonotonicClock.now() < deadline {
                MonotonicClock.sleep(until: min(deadline, MonotonicClock.now() + 100_000_000))
            }
            if isStopping { break }
            let now = MonotonicClock.now()
            var missed: UInt64 = 0
            if interval > 0 && now - deadline >= interval {
                missed = UInt64((now - deadline) / interval)
                cycle += missed
                deadline = origin + Int64(cycle) * interval
            }
            let wallTime = Date()
            let lateness = now - deadline

            if connection == nil && now >= nextConnectAttempt {
                do {
                    let candidate = try ModbusConnection(
                        host: settings.host, port: settings.port, unitId: settings.unitId, responseTimeout: timeout)
                    try candidate.connect()
                    connection = candidate
                    stats.withLock {
                        $0.connects += 1
                        $0.connected = true
                    }
                    if failedConnects == 0 {
                        logger.info("connected", metadata: ["endpoint": "\(settings.host):\(settings.port)"])
                    } else {
                        logger.debug("connected", metadata: ["attempt": "\(failedConnects + 1)"])
                    }
                } catch {
                    failedConnects += 1
                    let backoff = backoffDelay(afterFailures: failedConnects)
                    nextConnectAttempt = MonotonicClock.now() + backoff
                    if failedConnects <= 2 || failedConnects.isMultiple(of: 20) {
                        logger.warning(
                            "cannot connect",
                            metadata: [
                                "endpoint": "\(settings.host):\(settings.port)", "error": "\(error)",
                                "attempts": "\(failedConnects)", "retry_in_ms": "\(backoff / 1_000_000)",
                            ])
                    }
                }
            }

            var failures = 0
            var firstError: ModbusError?
            var inModbus: Int64 = 0
            var answered = false
            var paused: Int64 = 0
            for (n, request) in plan.requests.enumerated() {
                var quality = Quality.good
                if let link = connection {
                    if n > 0 && pause > 0 {
                        MonotonicClock.sleep(until: MonotonicClock.now() + pause)
                        paused += pause
                    }
                    let readStart = MonotonicClock.now()
                    defer { inModbus += MonotonicClock.now() - readStart }
                    do {
                        try link.read(request.range, registers: registers, bits: bits)
                        answered = true
                    } catch {
                        quality = error.quality
                        answered = answered || error.quality == .badDevice
                        firstError = firstError ?? error
                        if error.quality == .badCommunication {
                            // After a timeout a late reply could be taken for the next one: start clean.
                            link.close()
                            connection = nil
                            // A link that was never good counts as a failed connect, so a device that
                            // accepts and then drops connections is retried with backoff too.
                            failedConnects += 1
                            nextConnectAttempt = failedConnects == 1
                                ? 0 : MonotonicClock.now() + backoffDelay(afterFailures: failedConnects - 1)
                        }
                    }
                } else {
                    quality = .badCommunication
                }
                if quality != .good { failures += 1 }
                for index in request.parameterIndexes {
                    let parameter = profile.parameters[index]
                    guard quality == .good else {
                        readings[index] = Reading(parameterId: parameter.id, value: nil, quality: quality)
                        continue
                    }
                    let value: Value?
                    if request.range.table.isBitTable {
                        value = RegisterCodec.decode(
                            parameter, bits: UnsafeBufferPointer(start: bits, count: request.range.count),
                            baseAddress: request.range.start)
                    } else {
                        value = RegisterCodec.decode(
                            parameter, registers: UnsafeBufferPointer(start: registers, count: request.range.count),
                            baseAddress: request.range.start)
                    }
                    let label = value.flatMap { v in
                        parameter.enumeration.flatMap { e in RegisterCodec.code(of: v, for: parameter).flatMap { e[$0] } }
                    }
                    readings[index] = Reading(
                        parameterId: parameter.id, value: value, quality: value == nil ? .badDevice : .good, label: label)
                }
            }
            let healthy = failures == 0
            if answered { failedConnects = 0 }
            if wasHealthy != healthy {
                if healthy {
                    logger.info("all parameters read")
                } else {
                    logger.warning(
                        "read failed", metadata: ["error": "\(firstError?.description ?? "not connected")"])
                }
                wasHealthy = healthy
            }
            let cycleEnd = MonotonicClock.now()
            stats.withLock {
                $0.busyNanoseconds += cycleEnd - now - paused
                $0.modbusNanoseconds += inModbus
                $0.cycles += 1
                $0.missedCycles += missed
                $0.requests += UInt64(plan.requests.count)
                $0.failedRequests += UInt64(failures)
                $0.connected = connection != nil
                if healthy { $0.lastGoodCycle = cycleEnd }
                $0.lastCycle = cycleEnd
            }
            onSample(Sample(
                deviceId: settings.deviceId, time: wallTime, monotonicTime: now, cycle: cycle,
                startLateness: .nanoseconds(lateness), missedCycles: missed,
                readings: readings.map { $0! }))
            cycle += 1
        }
        connection?.close()
        logger.debug("poller stopped")
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that many
    /// pollers that lost one gateway together do not reconnect in lock-step.
    private func backoffDelay(afterFailures failures: Int) -> Int64 {
        reconnectDelay(afterFailures: failures, within: settings.reconnectBackoff)
    }
}
