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

    /// What the poll thread keeps between cycles about its link to the device.
    private struct Link {
        var connection: ModbusConnection?
        var nextConnectAttempt: Int64 = 0
        var failedConnects = 0
    }

    /// Where libmodbus reads land, sized for the plan's largest request.
    private struct ReadBuffers {
        let registers: UnsafeMutablePointer<UInt16>
        let bits: UnsafeMutablePointer<UInt8>
    }

    /// What the requests of one cycle came to.
    private struct CycleReads {
        var failures = 0
        var firstError: ModbusError?
        /// Time inside libmodbus read calls, and in the device's required pause between requests.
        var inModbus: Int64 = 0
        var paused: Int64 = 0
        /// The device answered at least once (a Modbus exception is an answer).
        var answered = false
    }

    private func run() {
        var logger = Logger(label: "pocare.acquisition")
        logger[metadataKey: "device"] = "\(settings.deviceId)"
        let interval = settings.interval.nanoseconds
        let largest = max(plan.requests.map(\.range.count).max() ?? 1, 1)
        let buffers = ReadBuffers(registers: .allocate(capacity: largest), bits: .allocate(capacity: largest))
        defer {
            buffers.registers.deallocate()
            buffers.bits.deallocate()
        }

        var link = Link()
        var wasHealthy: Bool?
        let origin = MonotonicClock.now()
        var cycle: UInt64 = 0
        var readings = [Reading?](repeating: nil, count: settings.profile.parameters.count)

        while !isStopping {
            guard let start = waitForCycle(&cycle, origin: origin, interval: interval) else { break }
            let wallTime = Date()
            if link.connection == nil && start.now >= link.nextConnectAttempt { connect(&link, logger: logger) }
            let reads = readAll(into: &readings, link: &link, buffers: buffers)
            let healthy = reads.failures == 0
            if reads.answered { link.failedConnects = 0 }
            if wasHealthy != healthy {
                if healthy {
                    logger.info("all parameters read")
                } else {
                    logger.warning(
                        "read failed", metadata: ["error": "\(reads.firstError?.description ?? "not connected")"])
                }
                wasHealthy = healthy
            }
            let cycleEnd = MonotonicClock.now()
            stats.withLock {
                $0.busyNanoseconds += cycleEnd - start.now - reads.paused
                $0.modbusNanoseconds += reads.inModbus
                $0.cycles += 1
                $0.missedCycles += start.missed
                $0.requests += UInt64(plan.requests.count)
                $0.failedRequests += UInt64(reads.failures)
                $0.connected = link.connection != nil
                if healthy { $0.lastGoodCycle = cycleEnd }
                $0.lastCycle = cycleEnd
            }
            onSample(Sample(
                deviceId: settings.deviceId, time: wallTime, monotonicTime: start.now, cycle: cycle,
                startLateness: .nanoseconds(start.lateness), missedCycles: start.missed,
                readings: readings.map { $0! }))
            cycle += 1
        }
        link.connection?.close()
        logger.debug("poller stopped")
    }

    /// Sleeps until `cycle` is due. A cycle whose time passed a whole interval ago is skipped and
    /// counted in `missed` (`cycle` moves on), never run late. Nil once a stop is requested.
    private func waitForCycle(_ cycle: inout UInt64, origin: Int64, interval: Int64)
        -> (now: Int64, lateness: Int64, missed: UInt64)?
    {
        var deadline = origin + Int64(cycle) * interval
        // Sleep in short slices so a stop request is honoured within 100 ms.
        while !isStopping, MonotonicClock.now() < deadline {
            MonotonicClock.sleep(until: min(deadline, MonotonicClock.now() + 100_000_000))
        }
        if isStopping { return nil }
        let now = MonotonicClock.now()
        var missed: UInt64 = 0
        if interval > 0 && now - deadline >= interval {
            missed = UInt64((now - deadline) / interval)
            cycle += missed
            deadline = origin + Int64(cycle) * interval
        }
        return (now, now - deadline, missed)
    }

    /// One connect attempt; a failure schedules the next with backoff.
    private func connect(_ link: inout Link, logger: Logger) {
        do {
            let candidate = try ModbusConnection(
                host: settings.host, port: settings.port, unitId: settings.unitId,
                responseTimeout: settings.profile.modbus.responseTimeout)
            try candidate.connect()
            link.connection = candidate
            stats.withLock {
                $0.connects += 1
                $0.connected = true
            }
            if link.failedConnects == 0 {
                logger.info("connected", metadata: ["endpoint": "\(settings.host):\(settings.port)"])
            } else {
                logger.debug("connected", metadata: ["attempt": "\(link.failedConnects + 1)"])
            }
        } catch {
            link.failedConnects += 1
            let backoff = backoffDelay(afterFailures: link.failedConnects)
            link.nextConnectAttempt = MonotonicClock.now() + backoff
            if link.failedConnects <= 2 || link.failedConnects.isMultiple(of: 20) {
                logger.warning(
                    "cannot connect",
                    metadata: [
                        "endpoint": "\(settings.host):\(settings.port)", "error": "\(error)",
                        "attempts": "\(link.failedConnects)", "retry_in_ms": "\(backoff / 1_000_000)",
                    ])
            }
        }
    }

    /// Makes every request of the plan and decodes its parameters into `readings`; without a
    /// link, every parameter reads as bad communication.
    private func readAll(into readings: inout [Reading?], link: inout Link, buffers: ReadBuffers) -> CycleReads {
        let pause = settings.profile.modbus.pauseBetweenRequests.nanoseconds
        var reads = CycleReads()
        for (n, request) in plan.requests.enumerated() {
            var quality = Quality.good
            if let connection = link.connection {
                if n > 0 && pause > 0 {
                    MonotonicClock.sleep(until: MonotonicClock.now() + pause)
                    reads.paused += pause
                }
                quality = read(request, on: connection, link: &link, buffers: buffers, reads: &reads)
            } else {
                quality = .badCommunication
            }
            if quality != .good { reads.failures += 1 }
            decode(request, quality: quality, buffers: buffers, into: &readings)
        }
        return reads
    }

    /// One request on the link. A timeout or broken link closes it, so that a late reply is
    /// never taken for the next one.
    private func read(
        _ request: ReadRequest, on connection: ModbusConnection, link: inout Link, buffers: ReadBuffers,
        reads: inout CycleReads
    ) -> Quality {
        let readStart = MonotonicClock.now()
        defer { reads.inModbus += MonotonicClock.now() - readStart }
        do {
            try connection.read(request.range, registers: buffers.registers, bits: buffers.bits)
            reads.answered = true
            return .good
        } catch {
            reads.answered = reads.answered || error.quality == .badDevice
            reads.firstError = reads.firstError ?? error
            if error.quality == .badCommunication {
                // After a timeout a late reply could be taken for the next one: start clean.
                connection.close()
                link.connection = nil
                // A link that was never good counts as a failed connect, so a device that
                // accepts and then drops connections is retried with backoff too.
                link.failedConnects += 1
                link.nextConnectAttempt = link.failedConnects == 1
                    ? 0 : MonotonicClock.now() + backoffDelay(afterFailures: link.failedConnects - 1)
            }
            return error.quality
        }
    }

    /// The parameters of one request, from the buffers (or as `quality` where the read failed).
    private func decode(_ request: ReadRequest, quality: Quality, buffers: ReadBuffers, into readings: inout [Reading?]) {
        for index in request.parameterIndexes {
            let parameter = settings.profile.parameters[index]
            guard quality == .good else {
                readings[index] = Reading(parameterId: parameter.id, value: nil, quality: quality)
                continue
            }
            let value: Value?
            if request.range.table.isBitTable {
                value = RegisterCodec.decode(
                    parameter, bits: UnsafeBufferPointer(start: buffers.bits, count: request.range.count),
                    baseAddress: request.range.start)
            } else {
                value = RegisterCodec.decode(
                    parameter, registers: UnsafeBufferPointer(start: buffers.registers, count: request.range.count),
                    baseAddress: request.range.start)
            }
            let label = value.flatMap { v in
                parameter.enumeration.flatMap { e in RegisterCodec.code(of: v, for: parameter).flatMap { e[$0] } }
            }
            readings[index] = Reading(
                parameterId: parameter.id, value: value, quality: value == nil ? .badDevice : .good, label: label)
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that many
    /// pollers that lost one gateway together do not reconnect in lock-step.
    private func backoffDelay(afterFailures failures: Int) -> Int64 {
        reconnectDelay(afterFailures: failures, within: settings.reconnectBackoff)
    }
}
