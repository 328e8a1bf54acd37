import Foundation
import Logging
import POCareCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves `GET /metrics` for Prometheus on a local address, from a thread of its own (plain
/// sockets: one scrape at a time, each read bounded in size and time, so a slow or hostile
/// client holds nothing else up). Everything else gets 404; the metrics are collected per scrape.
public final class MetricsEndpoint: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let listener: Int32
    private let collect: @Sendable () -> [MetricFamily]
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    private let thread = DedicatedThread(name: "metrics")
    /// The port bound (the one asked for, or the kernel's choice for 0).
    public let port: Int

    /// Binds at once, so a port in use or an address that is not local is a start-up error.
    public init(host: String, port: Int, logger: Logger, collect: @escaping @Sendable () -> [MetricFamily]) throws(Failure) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list?.pointee else {
            throw Failure(description: "metrics address \(host):\(port) cannot be resolved")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "metrics: cannot create a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.ai_addr, info.ai_addrlen) == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "metrics: cannot listen on \(host):\(port): \(reason)")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = withUnsafePointer(to: &bound) { pointer -> Int in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
        listener = fd
        self.collect = collect
        self.logger = logger
    }

    public func start() { thread.start { [self] in serve() } }

    /// Stops accepting and waits for the thread (a scrape in progress is bounded by its timeouts).
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        thread.join()
    }

    /// The same from a task: waits without holding a thread of the pool, at most `limit`.
    public func stop(within limit: Duration) async {
        stopped.store(true, ordering: .relaxed)
        _ = await thread.joined(within: limit)
    }

    deinit { close(listener) }

    private func serve() {
        while !stopped.load(ordering: .relaxed) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 1, 200) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // The request line and headers, at most 8 KiB: nothing else is read.
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
            let count = recv(client, &buffer, buffer.count, 0)
            if count <= 0 { break }
            request += buffer[0..<count]
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let response: String
        if parts.count == 3, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            let body = PrometheusText.render(collect())
            response = "HTTP/1.1 200 OK\r\nContent-Type: \(PrometheusText.contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        } else {
            response = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nConnection: close\r\n\r\nonly /metrics here\n"
        }
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}
