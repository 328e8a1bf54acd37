import Foundation
import TestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Modbus/TCP server on a loopback port that answers every read the way a test tells it to:
/// correctly, or with a wrong id, a lying length field, a frame cut short or dribbled out byte
/// by byte, or a reset. It plays the broken or hostile device a site may meet.
final class RogueModbusServer: Sendable {
    enum Answer: Sendable {
        case frame([UInt8])
        case slowly([UInt8], perByte: Duration)
        case close
        case reset
        case silence
    }

    /// Given the request (MBAP header and PDU) and the correct reply, what to send.
    typealias Behaviour = @Sendable (_ request: [UInt8], _ honest: [UInt8]) -> Answer

    let port: Int
    /// The value of every holding register this device serves.
    static let registerValue: UInt16 = 100
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)
    private let behaviour: Behaviour

    var requestsServed: Int { served.load(ordering: .relaxed) }

    init(behaviour: @escaping Behaviour) throws {
        self.behaviour = behaviour
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let thread = Thread { [self] in
                serve(client)
            }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        while !stopped.load(ordering: .relaxed) {
            guard let header = readExactly(fd, 7) else { return }
            let length = Int(header[4]) << 8 | Int(header[5])
            guard length >= 2, let rest = readExactly(fd, length - 1) else { return }
            let request = header + rest
            served.add(1, ordering: .relaxed)
            switch behaviour(request, Self.honestReply(to: request)) {
            case .frame(let bytes):
                guard writeAll(fd, bytes) else { return }
            case .slowly(let bytes, let delay):
                for byte in bytes {
                    Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds))
                    guard writeAll(fd, [byte]) else { return }
                }
            case .close:
                return
            case .reset:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                return
            case .silence:
                continue
            }
        }
    }

    /// The reply a correct device gives to a read of holding registers.
    static func honestReply(to request: [UInt8]) -> [UInt8] {
        let count = Int(request[10]) << 8 | Int(request[11])
        var pdu: [UInt8] = [request[7], UInt8(count * 2)]
        for _ in 0..<count { pdu += [UInt8(registerValue >> 8), UInt8(registerValue & 0xFF)] }
        let length = pdu.count + 1
        return [request[0], request[1], 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), request[6]] + pdu
    }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            got += n
        }
        return bytes
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
