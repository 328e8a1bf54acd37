import Acquisition
import ControlSiteLink
import Foundation
import POCareContract
import POCareCore
import ServiceSupport
import SiteStore

/// What `pocared` tells Prometheus (`metrics:` in site.yaml), read per scrape from the
/// statistics the pollers, the store and the link already keep; docs/operations.md names each.
enum SiteMetrics {
    static func families(pollers: [DevicePoller], store: SiteStore, link: ControlSiteLink?, storePath: String, now: Date = Date()) -> [MetricFamily] {
        let devices = pollers.map { ($0.settings.deviceId, $0.statistics) }
        var families: [MetricFamily] = [
            MetricFamily("pocare_build_info", .gauge, help: "The software version.", samples: [.init(1, labels: [("version", POCareVersion.current)])]),
            MetricFamily("pocare_device_polls_total", .counter, help: "Poll cycles run per device.", by: "device",
                         devices.map { ($0.0, Double($0.1.cycles)) }),
            MetricFamily("pocare_device_missed_polls_total", .counter, help: "Poll cycles skipped because the previous one ran late.",
                         by: "device", devices.map { ($0.0, Double($0.1.missedCycles)) }),
            MetricFamily("pocare_device_requests_total", .counter, help: "Modbus requests sent per device.", by: "device",
                         devices.map { ($0.0, Double($0.1.requests)) }),
            MetricFamily("pocare_device_request_errors_total", .counter,
                         help: "Modbus requests that got no good answer (timeout, broken link, exception).", by: "device",
                         devices.map { ($0.0, Double($0.1.failedRequests)) }),
            MetricFamily("pocare_device_connected", .gauge, help: "1 while the Modbus connection to the device is open.", by: "device",
                         devices.map { ($0.0, $0.1.connected ? 1 : 0) }),
            .summary("pocare_device_read_seconds", help: "Time inside libmodbus read calls (sum) over requests (count).", by: "device",
                     devices.map { ($0.0, sum: Double($0.1.modbusNanoseconds) / 1e9, count: Double($0.1.requests)) }),
        ]
        let health = store.health
        families += [
            MetricFamily("pocare_store_pending_rows", .gauge, help: "Rows queued for the store and not yet committed.",
                         samples: [.init(Double(health.pendingRows))]),
            MetricFamily("pocare_store_committed_rows_total", .counter, help: "Rows committed since the daemon started.",
                         samples: [.init(Double(health.committedRows))]),
            MetricFamily("pocare_store_failing", .gauge, help: "1 while commits fail (disk full, file lost).",
                         samples: [.init(health.failing ? 1 : 0)]),
        ]
        families += backlog(storePath: storePath, now: now)
        if let link {
            let s = link.statistics
            families += [
                MetricFamily("pocare_link_connected", .gauge, help: "1 while the Control Site broker has the site connected.",
                             samples: [.init(s.connected ? 1 : 0)]),
                MetricFamily("pocare_link_messages_published_total", .counter, help: "MQTT messages published.",
                             samples: [.init(Double(s.messagesPublished))]),
                MetricFamily("pocare_link_messages_acknowledged_total", .counter, help: "MQTT messages the broker acknowledged.",
                             samples: [.init(Double(s.messagesAcknowledged))]),
            ]
        }
        return families
    }

    /// Per stream, the records committed and not yet delivered, and how old the oldest of them
    /// is: what an outage has left to send. A reader of its own for each scrape (a few queries).
    static func backlog(storePath: String, now: Date) -> [MetricFamily] {
        guard let reader = try? StoreReader(path: storePath), let streams = try? reader.streams() else { return [] }  // the store's own alarm says why
        var waiting: [(String, Double)] = [], ages: [(String, Double)] = []
        for state in streams.sorted(by: { $0.stream < $1.stream }) {
            let name = state.stream.description
            waiting.append((name, Double(max(0, state.lastSeq - state.deliveredSeq))))
            // An age that cannot be read shows as 0; the store's own alarm says why.
            guard state.lastSeq > state.deliveredSeq, let oldest = try? oldestUndelivered(reader, state) else {
                ages.append((name, 0))
                continue
            }
            ages.append((name, max(0, now.timeIntervalSince(oldest))))
        }
        return [
            MetricFamily("pocare_store_undelivered_records", .gauge, help: "Records committed and not yet acknowledged by the Control Site's broker.",
                         by: "stream", waiting),
            MetricFamily("pocare_store_oldest_undelivered_age_seconds", .gauge,
                         help: "Age of the oldest record not yet delivered (0 when none waits).", by: "stream", ages),
        ]
    }

    private static func oldestUndelivered(_ reader: StoreReader, _ state: StreamState) throws -> Date? {
        switch state.stream {
        case .telemetry: try reader.samples(stream: state.stream, after: state.deliveredSeq, limit: 1).first?.time
        case .events, .siteEvents: try reader.events(stream: state.stream, after: state.deliveredSeq, limit: 1).first?.time
        case .audit: try reader.auditEntries(after: state.deliveredSeq, limit: 1).first?.time
        }
    }
}
