import Foundation
import Testing
import TestSupport

/// Reads `/metrics` as Prometheus does: one value per metric and label set.
func scrape(port: Int, path: String = "/metrics") throws -> (status: Int, metrics: [String: Double]) {
    let result = try runCommand("/usr/bin/curl", ["-s", "--max-time", "5", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
    var lines = result.output.split(separator: "\n").map(String.init)
    let status = Int(lines.popLast() ?? "") ?? 0
    var metrics: [String: Double] = [:]
    for line in lines where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        metrics[String(line[..<space])] = value
    }
    return (status, metrics)
}

@Suite("pocared serves Prometheus metrics", .serialized)
struct SiteMetricsTests {
    @Test("polls, errors, read time, store backlog and the oldest undelivered record, per device and stream; other paths 404")
    func scrapeTheDaemon() async throws {
        let port = freeLoopbackPort()
        // A broker nobody listens on: every record waits, so the backlog grows and ages.
        let fixture = try DaemonFixture(
            pollInterval: "100ms", controlSite: "control_site: { broker: \"mqtt://127.0.0.1:\(freeLoopbackPort())\" }",
            faults: ["device=str-1 kind=drop from=0s to=600s"], extraConfig: "metrics: { address: \"127.0.0.1:\(port)\" }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        // Polls and stored samples are counted apart (a poll on a loaded machine may time out, and a
        // sample is counted once its commit lands): wait for both.
        #expect(await waitFor(upTo: .seconds(30)) {
            let m = (try? scrape(port: port).metrics) ?? [:]
            return (m["pocare_device_polls_total{device=\"rocker-1\"}"] ?? 0) >= 20
                && (m["pocare_store_undelivered_records{stream=\"rocker-1/telemetry\"}"] ?? 0) >= 20
        })
        let (status, m) = try scrape(port: port)
        #expect(status == 200)
        #expect((m["pocare_device_requests_total{device=\"rocker-1\"}"] ?? 0) > 0)
        // The reachable device answers (most requests; a loaded machine may time some out); the
        // one whose connection the simulator drops answers none.
        let requests = { (device: String) in m["pocare_device_requests_total{device=\"\(device)\"}"] ?? 0 }
        let errors = { (device: String) in m["pocare_device_request_errors_total{device=\"\(device)\"}"] ?? 0 }
        #expect(errors("rocker-1") < requests("rocker-1") / 2)
        #expect(errors("str-1") > 0 && errors("str-1") == requests("str-1"), "the dropped device's failures are counted")
        #expect(m["pocare_device_connected{device=\"str-1\"}"] == 0)
        #expect((m["pocare_device_read_seconds_count{device=\"rocker-1\"}"] ?? 0) > 0)
        #expect((m["pocare_store_undelivered_records{stream=\"rocker-1/telemetry\"}"] ?? 0) >= 20)
        #expect((m["pocare_store_oldest_undelivered_age_seconds{stream=\"rocker-1/telemetry\"}"] ?? 0) >= 1)
        #expect(m["pocare_link_connected"] == 0)
        #expect(m.keys.contains { $0.hasPrefix("pocare_build_info{version=") })
        #expect(try scrape(port: port, path: "/anything").status == 404)
    }
}
