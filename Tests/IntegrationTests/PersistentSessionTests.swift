import Foundation
import Testing
import TestSupport

/// A Control Site consumer that goes away with a persistent session gets, when it comes back,
/// what was published meanwhile, with MQTT 3.1.1 and with MQTT 5 (whose sessions end with the
/// connection unless CONNECT gives them an expiry interval).
@Suite("Persistent sessions of a Control Site consumer", .serialized)
struct PersistentSessionTests {
    @Test("records published while an MQTT 5 consumer was away reach it when it reconnects", arguments: [false, true])
    func awayAndBack(mqtt5: Bool) async throws {
        let broker = try TestBroker(extraConfig: "log_type all")
        let clientId = "qa-away-\(mqtt5 ? 5 : 3)"
        let flags = ["subscribe", "--broker", broker.url, "--client-id", clientId, "--json"] + (mqtt5 ? ["--mqtt5"] : [])
        let first = try RunningProcess("pocarectl", flags)
        #expect(await waitFor(upTo: .seconds(10)) { broker.log.contains("Sending SUBACK to \(clientId)") })
        first.stop()

        // The site starts and publishes its batch start while the consumer is away.
        let fixture = try DaemonFixture(
            pollInterval: "200ms", controlSite: "control_site: { broker: \"\(broker.url)\", client_id: site-away }")
        let daemon = try fixture.startDaemon()
        defer { daemon.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { broker.log.contains("Received PUBLISH from site-away") && broker.log.contains("events") })

        let second = try RunningProcess("pocarectl", flags)
        defer { second.stop() }
        #expect(await waitFor(upTo: .seconds(20)) { second.output.contains { $0.contains("batch_started") } },
                "the batch start published while the consumer was away arrives: \(second.output.prefix(3))")
    }
}
