import ControlSiteRecords
import POCareContract
import Testing

/// `replay_after` in control.yaml: when a persistent gap is asked of its site, or never.
@Suite("control.yaml: replay_after")
struct ReplayConfigTests {
    func parse(_ extra: String) throws(ControlConfig.Invalid) -> ControlConfig {
        try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: dbname=x\n\(extra)", file: "control.yaml")
    }

    @Test("asked after 30 s unless configured; a duration sets it; off turns asking off")
    func values() throws {
        #expect(try parse("").settings.replayAfter == .seconds(30))
        #expect(try parse("replay_after: 5s").settings.replayAfter == .seconds(5))
        #expect(try parse("replay_after: 2m").settings.replayAfter == .seconds(120))
        #expect(try parse("replay_after: off").settings.replayAfter == nil)
        #expect(try parse("replay_after: \"off\"").settings.replayAfter == nil)
    }

    @Test("anything else is refused naming the file and the key")
    func refused() {
        for bad in ["replay_after: 0s", "replay_after: 500ms", "replay_after: -5s", "replay_after: soon", "replay_after: [1]",
                    "replay_after: true", "replay_after: .nan", "replay_after: 99999999999999999999999s"] {
            #expect(throws: ControlConfig.Invalid.self, "\(bad)") { try parse(bad) }
            do { _ = try parse(bad) } catch { #expect(error.description.hasPrefix("control.yaml: replay_after:"), "\(bad): \(error)") }
        }
    }
}
