import ArgumentParser
import ControlSiteLink
import POCareContract
import Foundation
import MQTT
import Hashing
import POCareConfig
import POCareCore
import ServiceSupport

/// The reference Control Site consumer of the MQTT contract.
struct Subscribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Subscribe at the Control Site: de-duplicate by sequence number, report gaps, print what arrives.",
        discussion: """
            A persistent session (the default) keeps every QoS 1 message for this client id while it is away.
            Each record's previous_hash is checked against the hash of the record before it, and each
            site's store epoch against the one seen before: a broken chain or a replaced store is
            reported like a gap.
            Exit code: 0, or 1 when numbers are still missing in some stream at exit or a chain broke.

            Examples:
              pocarectl subscribe --broker mqtt://127.0.0.1:1883
              pocarectl subscribe --broker mqtts://cs.example:8883 --tls-ca ca.pem --cert me.pem --key me.key --site site-a
              pocarectl subscribe --broker mqtt://cs:1883 --mqtt5 --shared qa-consumers --json
            """)

    @Option(help: "Broker URL: mqtt://host:port or mqtts://host:port.")
    var broker: String

    @Option(help: "Only this site's topics (default: every site).")
    var site: String?

    @Option(help: "Topic root of the contract.")
    var topicRoot = "pocare/v1"

    @Option(help: "Client id; keep it stable for a persistent session.")
    var clientId = "pocarectl-subscriber-\(ProcessInfo.processInfo.hostName)"

    @Flag(help: "Start with a clean session (forget what the broker kept for this client id).")
    var clean = false

    @Flag(help: "Use MQTT 5 (required for --shared).")
    var mqtt5 = false

    @Option(help: "MQTT 5 shared subscription group, so several consumers split the load.")
    var shared: String?

    @Option(help: "CA certificate (PEM) for mqtts://.")
    var tlsCa: String?

    @Option(help: "Client certificate (PEM) for mutual TLS.")
    var cert: String?

    @Option(help: "Client key (PEM) for mutual TLS.")
    var key: String?

    @Option(help: "File with the username and password (two lines), not readable by others.")
    var credentialsFile: String?

    @Flag(help: "Print each new message's payload as one JSON line instead of a summary line.")
    var json = false

    @Flag(help: "Print duplicates too (they are still counted and reported), to compare them with the first copy.")
    var keepDuplicates = false

    @Option(help: "Exit after this many new messages.")
    var count: Int?

    @Option(help: "Exit after this long without a new message (e.g. 10s).")
    var idleTimeout: String?

    func run() throws {
        let signals = ProcessSignals { _ in }
        let options = try brokerOptions()
        let idle = try idleTimeout.map { text -> Duration in
            guard let d = parseDuration(text) else { throw ValidationError("--idle-timeout: '\(text)' is not a duration") }
            return d
        }
        var pattern = "\(topicRoot)/\(site ?? "+")/#"
        if let shared { pattern = "$share/\(shared)/\(pattern)" }

        let client: MQTTClient
        do {
            client = try MQTTClient(options: options)
        } catch {
            FileHandle.standardError.write(Data("pocarectl: \(error)\n".utf8))
            throw ExitStatus.unreachable
        }
        var tracker = SequenceTracker()
        var chains = ChainTracker()
        var catalog = MetadataCatalog()
        var received = 0
        var lastArrival = ContinuousClock.now
        var connected = false
        client.onEvent = { event in
            switch event {
            case .connected(let rc):
                guard rc == 0 else {
                    note("the broker refused the connection: \(MQTTClient.connackText(rc))")
                    return
                }
                connected = true
                do { try client.subscribe(pattern, qos: 1) } catch { note("\(error)") }
            case .disconnected:
                connected = false
            case .message(let topic, let payload):
                lastArrival = .now
                if handle(topic: topic, payload: payload, tracker: &tracker, chains: &chains, catalog: &catalog) { received += 1 }
            case .published:
                break
            }
        }

        // A consumer for people at a terminal: it comes back within 5 s of the broker.
        var schedule = ReconnectSchedule(backoff: .milliseconds(200)...(.seconds(5)))
        let started = ContinuousClock.now
        while !signals.stopRequested {
            if let count, received >= count { break }
            if let idle, ContinuousClock.now - max(lastArrival, started) > idle { break }
            if client.socket < 0 {
                switch schedule.attempt(client) {
                case .started: break
                case .notDue(let nanoseconds):
                    Thread.sleep(forTimeInterval: min(0.1, Double(nanoseconds) / 1e9))
                    continue
                case .failed(let error, _, _, let worthLogging):
                    if worthLogging { note("\(error); retrying") }
                    continue
                }
            }
            if connected { schedule.connected() }
            if !client.runLoop(milliseconds: 100) && client.socket < 0 { schedule.lost() }
        }
        client.disconnect()
        if Self.reportGaps(tracker, chains) { throw ExitStatus.failure }
    }

    /// The broker, its TLS and credentials as the options say.
    private func brokerOptions() throws -> BrokerOptions {
        guard var options = BrokerOptions.parse(url: broker, clientId: clientId) else {
            throw ValidationError("--broker: expected mqtt://host:port or mqtts://host:port, got '\(broker)'")
        }
        if shared != nil && !mqtt5 { throw ValidationError("--shared needs --mqtt5") }
        options.cleanSession = clean
        options.mqtt5 = mqtt5
        if options.tls != nil || tlsCa != nil {
            options.tls = .init(caFile: tlsCa ?? "", certFile: cert, keyFile: key)
        }
        if let credentialsFile {
            switch SiteConfigLoader.readCredentials(credentialsFile) {
            case .success(let credentials):
                options.username = credentials.username
                options.password = credentials.password
            case .failure(let message):
                throw ValidationError("--credentials-file: \(message)")
            }
        }
        return options
    }

    /// Says what arrived per stream and what is missing; true when numbers are missing or a chain broke.
    private static func reportGaps(_ tracker: SequenceTracker, _ chains: ChainTracker) -> Bool {
        var gaps = false
        for s in tracker.summaries {
            let missing = s.missing.map { "\($0.lowerBound)...\($0.upperBound)" }.joined(separator: ",")
            if !s.missing.isEmpty { gaps = true }
            note("\(s.stream): \(s.first)...\(s.highest), \(s.messages) messages, \(s.duplicates) duplicates dropped, missing: \(missing.isEmpty ? "none" : missing)")
        }
        for (stream, count) in chains.breaks.sorted(by: { $0.key < $1.key }) {
            gaps = true
            note("\(stream): chain broken \(count) time(s)")
        }
        return gaps
    }
}

/// One event the way the daemon logs it: kind, alarm, level, side, value, limit, priority,
/// state, user, reason, times, the excursion's duration and worst value, phases, batch, spec.
func eventSummary(_ envelope: [String: Any], _ event: [String: Any]) -> String {
    func value(_ any: Any?) -> String? {
        switch any {
        case let n as NSNumber: formatNumber(n.doubleValue)
        case let s as String: s
        default: nil
        }
    }
    var parts = [value(envelope["kind"]) ?? value(event["kind"]) ?? "?"]
    parts.append(value(event["alarm"]) ?? value(envelope["device"]) ?? "")
    for key in ["level", "side"] { if let v = value(event[key]) { parts.append("\(key)=\(v)") } }
    if let v = value(event["label"]) ?? value(event["value"]) { parts.append("value=\(v)") }
    for key in ["limit", "priority", "state", "user"] { if let v = value(event[key]) { parts.append("\(key)=\(v)") } }
    if let reason = value(event["reason"]) { parts.append("reason=\"\(reason)\"") }
    for key in ["until", "since"] { if let v = value(event[key]) { parts.append("\(key)=\(v)") } }
    if let excursion = event["excursion"] as? [String: Any] {
        if let v = value(excursion["duration_s"]) { parts.append("duration=\(v)s") }
        if let v = value(excursion["worst_value"]) { parts.append("worst=\(v)") }
        if let v = value(excursion["worst_level"]) { parts.append("worst_level=\(v)") }
        if let v = value(excursion["area_outside"]) { parts.append("area=\(v)") }
    }
    if let v = value(event["previous_phase"]) { parts.append("from=\(v)") }
    if let v = value(envelope["phase"]) ?? value(event["phase"]) { parts.append("phase=\(v)") }
    if let v = value(envelope["batch"]) ?? value(event["batch"]) { parts.append("batch=\(v)") }
    let spec = value(envelope["spec"]) ?? value(event["spec"])
    parts.append("spec=\(spec.map { String($0.dropFirst("sha256:".count).prefix(12)) } ?? "-")")
    return parts.joined(separator: " ")
}

/// What the retained metadata says about each device's parameters: names, units and labels.
struct MetadataCatalog {
    struct Parameter {
        var name: String
        var unit: String
        var labels: [String: String]
    }
    private var devices: [String: [(id: String, parameter: Parameter)]] = [:]

    mutating func learn(site: String, device: String, _ object: [String: Any]) {
        devices["\(site)/\(device)"] = (object["parameters"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let id = entry["id"] as? String else { return nil }
            let labels = (entry["enumeration"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
            return (id, Parameter(name: entry["name"] as? String ?? id, unit: entry["unit"] as? String ?? "", labels: labels))
        }
    }

    /// `Name=value unit` for each value, in the profile's order; a code an older site sent is
    /// shown with its label.
    func describe(site: String, device: String, values: [String: Any]) -> String {
        guard let parameters = devices["\(site)/\(device)"] else {
            return values.keys.sorted().map { "\($0)=\(values[$0].map { "\($0)" } ?? "null")" }.joined(separator: " ")
        }
        return parameters.compactMap { id, parameter -> String? in
            guard let value = values[id] else { return nil }
            var text: String
            switch value {
            case is NSNull: text = "-"
            case let number as NSNumber where !parameter.labels.isEmpty: text = parameter.labels[number.stringValue] ?? number.stringValue
            default: text = "\(value)"
            }
            if !parameter.unit.isEmpty && !(value is NSNull) { text += " \(parameter.unit)" }
            return "\(parameter.name)=\(text)"
        }.joined(separator: ", ")
    }
}

/// One line per message, written at once (not held in a buffer), so a pipe sees it as it arrives.
/// When the reader has gone (a pipe closed, as `| head` does), nothing more can be shown: the
/// command ends quietly instead of trapping on the failed write.
func emit(_ line: String) {
    do { try FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) } catch { exit(0) }
}

/// Notes for the person at the terminal go to standard error; data goes to standard output. A
/// note nobody can read any more is dropped.
func note(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data("pocarectl: \(text)\n".utf8))
}
