import CCrypto
import CMosquitto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A libmosquitto failure, with the library's own message (and the TLS or connection detail
/// libmosquitto logged, when there is one).
public struct MQTTError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var description: String { message }

    init(_ code: Int32, _ context: String, detail: String? = nil) {
        self.code = code
        let base = code == MOSQ_ERR_ERRNO.rawValue
            ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(code))
        message = "\(context): \(base)" + (detail.map { " (\($0))" } ?? "")
    }
}

/// Where and how to reach a broker.
public struct BrokerOptions: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var clientId: String
    /// Off for the site (a persistent session keeps QoS 1 messages across reconnects).
    public var cleanSession = false
    public var keepAlive: Duration = .seconds(30)
    public var mqtt5 = false
    /// With MQTT 5 and a persistent session: how long the broker keeps the session while the
    /// client is away, in seconds (default one week; the broker may cap it).
    public var sessionExpiry: UInt32 = 7 * 86_400
    public var tls: TLSOptions?
    public var username: String?
    public var password: String?

    public struct TLSOptions: Sendable, Hashable {
        public var caFile: String
        public var certFile: String?
        public var keyFile: String?
        public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public init(host: String, port: Int, clientId: String) {
        self.host = host
        self.port = port
        self.clientId = clientId
    }

    /// Parses `mqtt://host:port` or `mqtts://host:port` (port defaults to 1883 or 8883).
    public static func parse(url: String, clientId: String) -> BrokerOptions? {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("mqtt://") {
            secure = false
            rest = url.dropFirst(7)
        } else if url.hasPrefix("mqtts://") {
            secure = true
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        let hostPort = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        var host = hostPort
        var port = secure ? 8883 : 1883
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        var options = BrokerOptions(host: host, port: port, clientId: clientId)
        options.tls = secure ? TLSOptions(caFile: "") : nil
        return options
    }
}

/// Owns one libmosquitto client. Not thread-safe: the thread that owns it runs its network
/// loop (`poll` on `socket` plus `loopRead/loopWrite/loopMisc`) and makes every call, and the
/// callbacks arrive on that thread.
public final class MQTTClient {
    public enum Event {
        case connected(returnCode: Int32)
        case disconnected(returnCode: Int32)
        case published(messageId: Int32)
        case message(topic: String, payload: [UInt8])
    }

    private let handle: OpaquePointer
    public let options: BrokerOptions
    /// Receives every event, on the owning thread, from inside `loopRead`/`loopWrite`.
    public var onEvent: (Event) -> Void = { _ in }
    /// The last error libmosquitto logged (TLS and connection details the return codes lack).
    public private(set) var lastLoggedError: String?

    private static let initialised: Void = { mosquitto_lib_init() }()

    public init(options: BrokerOptions, will: (topic: String, payload: [UInt8])? = nil) throws(MQTTError) {
        _ = Self.initialised
        guard let handle = mosquitto_new(options.clientId, options.cleanSession, nil) else {
            throw MQTTError(MOSQ_ERR_ERRNO.rawValue, "cannot create an MQTT client")
        }
        self.handle = handle
        self.options = options
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, options.mqtt5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
        if let tls = options.tls {
            let rc = mosquitto_tls_set(handle, tls.caFile.isEmpty ? nil : tls.caFile, nil, tls.certFile, tls.keyFile, nil)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "TLS settings (CA \(tls.caFile))") }
            if tls.caFile.isEmpty { mosquitto_int_option(handle, MOSQ_OPT_TLS_USE_OS_CERTS, 1) }
        }
        if let username = options.username {
            let rc = mosquitto_username_pw_set(handle, username, options.password)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "username and password") }
        }
        if let will {
            let rc = will.payload.withUnsafeBytes {
                mosquitto_will_set(handle, will.topic, Int32($0.count), $0.baseAddress, 1, true)
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "last will on \(will.topic)") }
        }
        mosquitto_connect_callback_set(handle) { _, context, rc in
            MQTTClient.from(context)?.onEvent(.connected(returnCode: rc))
        }
        mosquitto_disconnect_callback_set(handle) { _, context, rc in
            MQTTClient.from(context)?.onEvent(.disconnected(returnCode: rc))
        }
        mosquitto_publish_callback_set(handle) { _, context, mid in
            MQTTClient.from(context)?.onEvent(.published(messageId: mid))
        }
        mosquitto_message_callback_set(handle) { _, context, message in
            guard let client = MQTTClient.from(context), let message = message?.pointee else { return }
            let topic = String(cString: message.topic)
            let payload = message.payloadlen > 0
                ? Array(UnsafeRawBufferPointer(start: message.payload, count: Int(message.payloadlen))) : []
            client.onEvent(.message(topic: topic, payload: payload))
        }
        mosquitto_log_callback_set(handle) { _, context, level, text in
            guard let text, level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0 else { return }
            MQTTClient.from(context)?.lastLoggedError = String(cString: text)
        }
    }

    deinit { mosquitto_destroy(handle) }

    private static func from(_ context: UnsafeMutableRawPointer?) -> MQTTClient? {
        context.map { Unmanaged<MQTTClient>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Connects (blocking: TCP, TLS handshake, CONNECT sent). The CONNACK arrives as `.connected`.
    public func connect() throws(MQTTError) {
        lastLoggedError = nil
        let keepAlive = Int32(max(5, options.keepAlive.components.seconds))
        let rc: Int32
        if options.mqtt5 && !options.cleanSession {
            // MQTT 5 ends a session when the connection closes unless CONNECT asks for longer:
            // a persistent session needs its expiry interval (libmosquitto keeps the property
            // for its reconnects).
            var properties: OpaquePointer?
            mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), options.sessionExpiry)
            rc = mosquitto_connect_bind_v5(handle, options.host, Int32(options.port), keepAlive, nil, properties)
            mosquitto_property_free_all(&properties)
        } else {
            rc = mosquitto_connect(handle, options.host, Int32(options.port), keepAlive)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(rc, "cannot connect to \(options.host):\(options.port)", detail: failureDetail())
        }
    }

    /// Reconnects with the same session; in-flight QoS 1 messages are sent again by libmosquitto.
    public func reconnect() throws(MQTTError) {
        lastLoggedError = nil
        let rc = mosquitto_reconnect(handle)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(rc, "cannot reconnect to \(options.host):\(options.port)", detail: failureDetail())
        }
    }

    /// A connection closed before its CONNACK: to the operator that is a broker not reached,
    /// with the reason libmosquitto or OpenSSL gave. Under TLS 1.3 the client's handshake
    /// completes before the broker checks the client's certificate, so a refused certificate
    /// shows up here and not as a failed connect.
    public func closedBeforeAccepted(_ code: Int32) -> MQTTError {
        MQTTError(code, "the broker at \(options.host):\(options.port) closed the connection before accepting it", detail: failureDetail())
    }

    /// What libmosquitto logged, or else what OpenSSL queued on this thread (a refused
    /// certificate shows up there when libmosquitto reports only a protocol error).
    private func failureDetail() -> String? {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(cString: buffer))
        }
        if let logged = lastLoggedError { return logged }
        if !messages.isEmpty { return "TLS: " + messages.joined(separator: "; ") }
        return options.tls != nil ? "TLS connection: the broker may have refused the handshake or the certificate" : nil
    }

    public func disconnect() { mosquitto_disconnect(handle) }

    /// Publishes; returns the message id the broker's PUBACK will carry.
    @discardableResult
    public func publish(topic: String, payload: UnsafeRawBufferPointer, qos: Int32 = 1, retain: Bool = false) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        let rc = mosquitto_publish(handle, &mid, topic, Int32(payload.count), payload.baseAddress, qos, retain)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "publish to \(topic)") }
        return mid
    }

    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, qos, retain)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "publish to \(topic)") }
        return mid
    }

    public func subscribe(_ pattern: String, qos: Int32 = 1) throws(MQTTError) {
        let rc = mosquitto_subscribe(handle, nil, pattern, qos)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(rc, "subscribe to \(pattern)") }
    }

    public func setMaxInflight(_ count: Int) { mosquitto_max_inflight_messages_set(handle, UInt32(count)) }

    /// The socket to poll, or -1 while not connected.
    public var socket: Int32 { mosquitto_socket(handle) }
    public var wantsWrite: Bool { mosquitto_want_write(handle) }

    /// Reads and handles what arrived; a non-zero result means the connection is gone.
    public func loopRead() -> Int32 { mosquitto_loop_read(handle, 1) }
    public func loopWrite() -> Int32 { mosquitto_loop_write(handle, 1) }
    /// Keep-alive pings and retries; call at least once a second.
    public func loopMisc() -> Int32 { mosquitto_loop_misc(handle) }

    /// Runs the network loop for up to `milliseconds`, also returning early when `wake` is readable.
    /// Returns false when the connection is lost.
    public func runLoop(milliseconds: Int32, wake: Int32 = -1) -> Bool {
        let fd = socket
        guard fd >= 0 else { return false }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0)]
        if wake >= 0 { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&fds, nfds_t(fds.count), milliseconds)
        if fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0, loopRead() != MOSQ_ERR_SUCCESS.rawValue {
            return false
        }
        if wantsWrite, loopWrite() != MOSQ_ERR_SUCCESS.rawValue { return false }
        return loopMisc() == MOSQ_ERR_SUCCESS.rawValue
    }

    public static func connackText(_ code: Int32) -> String { String(cString: mosquitto_connack_string(code)) }
}
