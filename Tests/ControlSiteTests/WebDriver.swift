import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A W3C WebDriver client for chromedriver, driving Debian's headless Chromium: just the
/// commands the browser test needs (navigate, find, type, click, run a script, screenshot).
final class WebDriver: @unchecked Sendable {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
    }

    private let process: SpawnedProcess
    private let base: String
    private let profile: URL
    private var sessionId = ""
    private let port: Int
    /// The exchanges block; they run here, never on the cooperative pool.
    private let queue = DispatchQueue(label: "webdriver-client")

    init() async throws {
        guard Self.installed else {
            throw TestFailure("chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)")
        }
        port = freeLoopbackPort()
        base = "http://127.0.0.1:\(port)"
        profile = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pocare-chromium-\(UUID().uuidString)")
        process = try SpawnedProcess(Self.chromedriver, ["--port=\(port)", "--allowed-ips=127.0.0.1"])
        var ready = false
        var last = ""
        for _ in 0..<100 where !ready {
            do {
                let status = try await command("GET", "/status")
                ready = (status?["ready"] as? Bool) == true || (status?["ready"] as? NSNumber)?.boolValue == true
                last = String(describing: status)
            } catch { last = "\(error)" }
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw TestFailure("chromedriver did not start: \(last) \(process.output)") }
        let options: [String: Any] = [
            "binary": Self.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                     "--window-size=1400,1000", "--user-data-dir=\(profile.path)"],
        ]
        let created = try await command("POST", "/session", ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options]]])
        guard let id = created?["sessionId"] as? String else { throw TestFailure("chromedriver made no session: \(String(describing: created))") }
        sessionId = id
    }

    func quit() async {
        _ = try? await command("DELETE", "/session/\(sessionId)")
        process.stop()
        try? FileManager.default.removeItem(at: profile)
    }

    func open(_ url: String) async throws { _ = try await command("POST", "/session/\(sessionId)/url", ["url": url]) }

    func element(_ css: String) async throws -> String {
        let found = try await command("POST", "/session/\(sessionId)/element", ["using": "css selector", "value": css])
        guard let id = found?.values.first as? String else { throw TestFailure("no element \(css) on the page") }
        return id
    }

    func type(_ css: String, _ text: String) async throws {
        _ = try await command("POST", "/session/\(sessionId)/element/\(try await element(css))/value", ["text": text])
    }

    func click(_ css: String) async throws {
        _ = try await command("POST", "/session/\(sessionId)/element/\(try await element(css))/click", [:])
    }

    /// Runs a script in the page and returns what it returns.
    func run(_ script: String) async throws -> Any? {
        let url = base + "/session/\(sessionId)/execute/sync"
        return try await send("POST", url, ["script": script, "args": []])
    }

    /// Polls a script until it returns true: after a click that submits a form, the next page
    /// may not have loaded when the click returns.
    func waitUntil(_ condition: String) async throws -> Bool {
        for _ in 0..<100 {
            if try await run("return Boolean(\(condition))") as? Bool == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func resize(width: Int, height: Int) async throws {
        _ = try await command("POST", "/session/\(sessionId)/window/rect", ["width": width, "height": height])
    }

    func screenshot() async throws -> Data {
        guard let text = try await send("GET", base + "/session/\(sessionId)/screenshot", nil) as? String,
              let png = Data(base64Encoded: text)
        else { throw TestFailure("no screenshot") }
        return png
    }

    private static func exchange(port: Int, method: String, path: String, body: Data) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("cannot connect to chromedriver") }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        request += Data("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw TestFailure("cannot write to chromedriver") }
            sent += n
        }
        // chromedriver keeps the connection open: read the headers, then Content-Length bytes.
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var bodyStart: Int?
        var length = 0
        while bodyStart == nil || response.count - bodyStart! < length {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
            if bodyStart == nil, let split = response.range(of: Data("\r\n\r\n".utf8)) {
                bodyStart = split.upperBound
                let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        guard let start = bodyStart else { throw TestFailure("no HTTP answer from chromedriver") }
        return Data(response[start...])
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any]? {
        try await send(method, base + path, body) as? [String: Any]
    }

    private func send(_ method: String, _ url: String, _ body: [String: Any]?) async throws -> Any? {
        // chromedriver writes headers without a space after the colon, which URLSession on Linux
        // refuses; one request per connection over a plain socket needs no header parsing at all.
        let path = String(url.dropFirst(base.count))
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let port = self.port
        let data: Data = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try Self.exchange(port: port, method: method, path: path, body: payload)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        if let value = answer?["value"] as? [String: Any], let error = value["error"] as? String {
            throw TestFailure("WebDriver \(method) \(url): \(error): \(value["message"] ?? "")")
        }
        return answer?["value"]
    }
}
