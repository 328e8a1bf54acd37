import Acquisition
import CModbus
import Foundation
import Logging
import POCareCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public enum SimulatorError: Error, CustomStringConvertible {
    case listen(endpoint: String, message: String)
    public var description: String {
        switch self {
        case .listen(let endpoint, let message): "cannot listen on \(endpoint): \(message)"
        }
    }
}

/// One simulated bioreactor: a Modbus/TCP server (libmodbus) serving a device profile's
/// register map from a `ProcessModel`, on a thread of its own so a slow or failing device
/// never holds up another.
public final class SimulatedDevice: Sendable {
    public let id: String
    public let profile: DeviceProfile
    public let host: String
    /// The bound port (the real one when 0 was asked for).
    public let port: Int

    private struct Control {
        var model: ProcessModel
        var faults: [Fault] = []
        var stuckValues: [String: Value] = [:]
        /// What the registers hold right now, in engineering units.
        var served: [String: Value] = [:]
        var connectionsAccepted = 0
        var requestsServed = 0
    }

    private let control: Mutex<Control>
    private let origin: Int64
    private let stopRequested = Atomic<Bool>(false)
    private let thread: DedicatedThread
    /// The socket bound at init; the serving thread takes it over.
    private let listenSocket: Int32
    private let contextBox: ContextBox

    /// libmodbus context and register mapping. Unchecked Sendable: after init only the device's
    /// own serving thread touches them (the values it serves are handed over under a lock).
    private final class ContextBox: @unchecked Sendable {
        let context: OpaquePointer
        let mapping: UnsafeMutablePointer<modbus_mapping_t>
        init(context: OpaquePointer, mapping: UnsafeMutablePointer<modbus_mapping_t>) {
            self.context = context
            self.mapping = mapping
        }
        deinit {
            modbus_mapping_free(mapping)
            modbus_free(context)
        }
    }

    /// Binds the listening socket at once (so the port is known and taken) and starts serving.
    public init(
        id: String, profile: DeviceProfile, host: String = "127.0.0.1", port: Int, model: ProcessModel,
        simulatorOrigin: Int64 = MonotonicClock.now()
    ) throws {
        self.id = id
        self.profile = profile
        self.host = host
        self.origin = simulatorOrigin
        guard let binder = modbus_new_tcp_pi(host, String(port)) else {
            throw SimulatorError.listen(endpoint: "\(host):\(port)", message: String(cString: modbus_strerror(errno)))
        }
        let socket = modbus_tcp_pi_listen(binder, 64)
        let listenErrno = errno
        modbus_free(binder)  // frees the context only; the listening socket stays open
        guard socket >= 0 else {
            throw SimulatorError.listen(endpoint: "\(host):\(port)", message: String(cString: modbus_strerror(listenErrno)))
        }
        self.listenSocket = socket
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        self.port = Int(
            address.ss_family == sa_family_t(AF_INET6)
                ? withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
                : withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } })

        // The serving context names the bound port, so that listening again after a
        // simulated connection drop takes the same port even when port 0 was asked for.
        guard let context = modbus_new_tcp_pi(host, String(self.port)) else {
            close(socket)
            throw SimulatorError.listen(endpoint: "\(host):\(port)", message: String(cString: modbus_strerror(errno)))
        }
        func extent(_ table: RegisterTable) -> Int32 {
            Int32(profile.parameters.filter { $0.table == table }.map(\.addressRange.end).max() ?? 0)
        }
        guard let mapping = modbus_mapping_new(
            extent(.coil), extent(.discreteInput), extent(.holdingRegister), extent(.inputRegister))
        else {
            close(socket)
            modbus_free(context)
            throw SimulatorError.listen(endpoint: "\(host):\(port)", message: "cannot allocate register map")
        }
        self.contextBox = ContextBox(context: context, mapping: mapping)
        self.control = Mutex(Control(model: model))
        self.thread = DedicatedThread(name: "sim-\(id)")
        thread.start { [self] in serve() }
    }


    /// Simulator time: how long since the simulator started.
    public var elapsed: Duration { .nanoseconds(MonotonicClock.now() - origin) }

    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        thread.join()
    }

    /// Adds a fault; its window is in simulator time.
    public func inject(_ fault: Fault) {
        control.withLock { $0.faults.append(fault) }
    }

    /// Adds a fault whose window starts now and lasts `duration`.
    public func inject(_ kind: Fault.Kind, for duration: Duration) {
        let now = elapsed
        inject(Fault(device: id, kind: kind, from: now, to: now + duration))
    }

    public func clearFaults() {
        control.withLock {
            $0.faults.removeAll()
            $0.stuckValues.removeAll()
        }
    }

    /// The values the registers hold now, in engineering units, by parameter id.
    public var servedValues: [String: Value] { control.withLock { $0.served } }

    public var requestsServed: Int { control.withLock { $0.requestsServed } }

    /// Changes the culture model, e.g. to freeze it for a test.
    public func updateModel(_ change: @Sendable (inout ProcessModel) -> Void) {
        control.withLock { change(&$0.model) }
    }

    private struct ActiveFaults {
        var drop = false
        var delay: Duration = .zero
        var exceptions: [(code: Int, parameter: String?)] = []
    }

    private func serve() {
        var logger = Logger(label: "pocare.sim")
        logger[metadataKey: "device"] = "\(id)"
        let context = contextBox.context
        let mapping = contextBox.mapping
        var clients: [Int32] = []
        let query = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        var listener: Int32? = listenSocket
        defer {
            query.deallocate()
            for fd in clients { close(fd) }
            if let listener { close(listener) }
        }
        let headerLength = Int(modbus_get_header_length(context))
        var lastStep = MonotonicClock.now()
        var active = refresh(mapping: mapping, dt: 0)

        while !stopRequested.load(ordering: .relaxed) {
            var fds = [pollfd(fd: listener ?? -1, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 20)

            let now = MonotonicClock.now()
            if now - lastStep >= 20_000_000 {
                active = refresh(mapping: mapping, dt: Double(now - lastStep) / 1e9)
                lastStep = now
            } else {
                // A fault injected a moment ago applies to the very next request.
                active = linkFaults()
            }
            // A dropped device is unreachable: open connections are cut and new ones refused.
            if active.drop, let open = listener {
                logger.info("fault: connection drop, closing \(clients.count) connection(s) and refusing new ones")
                for fd in clients { close(fd) }
                clients.removeAll()
                close(open)
                listener = nil
                continue
            }
            if !active.drop && listener == nil {
                let reopened = modbus_tcp_pi_listen(context, 64)
                if reopened >= 0 {
                    listener = reopened
                    logger.info("fault over: accepting connections again")
                }
            }
            guard ready > 0 else { continue }

            if fds[0].revents & Int16(POLLIN) != 0, var listening = listener {
                let fd = modbus_tcp_pi_accept(context, &listening)
                if fd >= 0 {
                    clients.append(fd)
                    control.withLock { $0.connectionsAccepted += 1 }
                }
            }
            var closed: Set<Int32> = []
            for entry in fds.dropFirst() where entry.revents != 0 {
                modbus_set_socket(context, entry.fd)
                let length = modbus_receive(context, query)
                if length < 0 {
                    closed.insert(entry.fd)
                    continue
                }
                if length == 0 { continue }  // not for this unit
                answer(query, length: length, headerLength: headerLength, active: active)
            }
            if !closed.isEmpty { clients.removeAll { closed.contains($0) } }
            for fd in closed { close(fd) }
        }
    }

    /// Answers one request, with the delay and exception the active faults call for.
    private func answer(_ query: UnsafeMutablePointer<UInt8>, length: Int32, headerLength: Int, active: ActiveFaults) {
        let context = contextBox.context
        if active.delay > .zero {
            let (s, atto) = active.delay.components
            var ts = timespec(tv_sec: Int(s), tv_nsec: Int(atto / 1_000_000_000))
            nanosleep(&ts, nil)
        }
        if let exceptionCode = exceptionCode(for: query, headerLength: headerLength, active: active) {
            modbus_reply_exception(context, query, UInt32(exceptionCode))
        } else {
            modbus_reply(context, query, length, contextBox.mapping)
        }
        control.withLock { $0.requestsServed += 1 }
    }

    /// The exception a read gets: a range the profile marks unreadable, or an injected
    /// exception on a parameter it reads (or on every read). Nil: it is answered.
    private func exceptionCode(for query: UnsafeMutablePointer<UInt8>, headerLength: Int, active: ActiveFaults) -> Int? {
        let function = Int(query[headerLength])
        let start = Int(query[headerLength + 1]) << 8 | Int(query[headerLength + 2])
        let count = Int(query[headerLength + 3]) << 8 | Int(query[headerLength + 4])
        let table: RegisterTable? = switch function {
        case 1: .coil
        case 2: .discreteInput
        case 3: .holdingRegister
        case 4: .inputRegister
        default: nil
        }
        guard let table else { return nil }
        var exceptionCode: Int?
        let range = AddressRange(table: table, start: start, count: count)
        if profile.unreadable.contains(where: { $0.overlaps(range) }) {
            exceptionCode = Int(MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS)
        }
        for fault in active.exceptions {
            let hit = fault.parameter.map { p in
                profile.parameter(p).map { $0.addressRange.overlaps(range) } ?? false
            } ?? true
            if hit { exceptionCode = fault.code }
        }
        return exceptionCode
    }

    private func linkFaults() -> ActiveFaults {
        let time = elapsed
        return control.withLock { state in
            var active = ActiveFaults()
            for fault in state.faults where fault.applies(to: id) && fault.isActive(at: time) {
                switch fault.kind {
                case .connectionDrop: active.drop = true
                case .slowResponse(let delay): active.delay = max(active.delay, delay)
                case .exception(let code, let p): active.exceptions.append((code, p))
                default: break
                }
            }
            return active
        }
    }

    /// Steps the model, applies value faults, and writes every parameter into the register map.
    private func refresh(mapping: UnsafeMutablePointer<modbus_mapping_t>, dt: Double) -> ActiveFaults {
        let time = elapsed
        control.withLock { state in
            state.model.step(dt)
            var overrides: [String: Value] = [:]
            for fault in state.faults where fault.applies(to: id) {
                guard fault.isActive(at: time) else {
                    if case .stuck(let p) = fault.kind { state.stuckValues[p] = nil }
                    continue
                }
                switch fault.kind {
                case .excursion(let p, let v), .spike(let p, let v): overrides[p] = .number(v)
                case .stuck(let p):
                    if state.stuckValues[p] == nil { state.stuckValues[p] = state.served[p] ?? state.model.value(for: p) }
                    overrides[p] = state.stuckValues[p]
                case .offset(let p, let delta):
                    if case .number(let v)? = overrides[p] ?? state.model.value(for: p) { overrides[p] = .number(v + delta) }
                case .flag(let p, let v): overrides[p] = .flag(v)
                case .status(let p, let label):
                    let code = profile.parameter(p)?.enumeration?.first { $0.value == label }?.key ?? Int(label)
                    if let code { overrides[p] = .number(Double(code)) }
                case .connectionDrop, .slowResponse, .exception: break
                }
            }
            // Whole registers first, then single bits, so bits are not overwritten.
            for parameter in profile.parameters.sorted(by: { !isBit($0) && isBit($1) }) {
                let value = overrides[parameter.id] ?? state.model.value(for: parameter.id) ?? defaultValue(parameter)
                state.served[parameter.id] = value
                write(value, parameter, mapping)
            }
        }
        return linkFaults()
    }

    private func isBit(_ p: Parameter) -> Bool {
        if case .bit = p.dataType { return true }
        return false
    }

    private func defaultValue(_ p: Parameter) -> Value {
        switch p.dataType {
        case .string: .text("SIM-\(id)".uppercased())
        case .bool, .bit: .flag(false)
        default: .number(p.offset)
        }
    }

    private func write(_ value: Value, _ p: Parameter, _ m: UnsafeMutablePointer<modbus_mapping_t>) {
        let on: UInt8 = (value.number ?? 0) != 0 ? 1 : 0
        switch p.table {
        case .coil: m.pointee.tab_bits[p.address] = on
        case .discreteInput: m.pointee.tab_input_bits[p.address] = on
        case .holdingRegister, .inputRegister:
            let base = p.table == .holdingRegister ? m.pointee.tab_registers! : m.pointee.tab_input_registers!
            if case .bit(let n) = p.dataType {
                let mask = UInt16(1) << UInt16(n)
                base[p.address] = on == 1 ? base[p.address] | mask : base[p.address] & ~mask
            } else {
                for (i, word) in RegisterCodec.encode(value, for: p).enumerated() { base[p.address + i] = word }
            }
        }
    }
}
