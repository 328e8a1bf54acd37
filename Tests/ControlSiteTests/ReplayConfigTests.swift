import ControlSiteRecords
import POCareContract
import Testing
import TestSupport

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

    @Test("anything else is refused naming the file, line, column and key")
    func refused() {
        for bad in ["replay_after: 0s", "replay_after: 500ms", "replay_after: -5s", "replay_after: soon", "replay_after: [1]",
                    "replay_after: true", "replay_after: .nan", "replay_after: 99999999999999999999999s"] {
            #expect(throws: ControlConfig.Invalid.self, "\(bad)") { try parse(bad) }
            do { _ = try parse(bad) } catch { #expect(error.description.hasPrefix("control.yaml:3:15: replay_after:"), "\(bad): \(error)") }
        }
    }

    @Test("ingest.max_sequence_jump: 1,000,000 unless configured; a number in 1,000...10^12 sets it; anything else is refused where it is")
    func maxSequenceJump() throws {
        #expect(try parse("").settings.sequenceJumpLimit.maxJump == 1_000_000)
        #expect(try parse("ingest: { max_sequence_jump: 5000 }").settings.sequenceJumpLimit.maxJump == 5_000)
        #expect(try parse("ingest: { max_sequence_jump: 5000 }").settings.share.isEverySite, "the limit alone shares nothing out")
        for bad in ["0", "-1", "999", "1000000000001", "9000000000000000000000", "lots", "1.5", "[1]"] {
            do {
                _ = try parse("ingest: { max_sequence_jump: \(bad) }")
                Issue.record("\(bad) was taken")
            } catch {
                #expect(error.description.contains("ingest.max_sequence_jump"), "\(bad): \(error)")
            }
        }
    }

    @Test("every problem of the file is reported, each where it is; a misspelt key gets the key it resembles")
    func everyProblemLocated() {
        let text = "broker: mqtt://127.0.0.1:1883\ndatabse: dbname=x\nwriters: 99\nweb: { prot: 8080 }\n"
        var lines: [String] = []
        do { _ = try ControlConfig.parse(text, file: "control.yaml") } catch { lines = error.diagnostics.map(\.description) }
        #expect(lines.contains("control.yaml:2:1: databse: unknown key 'databse' (did you mean 'database'?)"), "\(lines)")
        #expect(lines.contains("control.yaml:3:10: writers: 99 is out of range 1...16"), "\(lines)")
        #expect(lines.contains("control.yaml:4:8: web.prot: unknown key 'prot' (did you mean 'port'?)"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("control.yaml:1:1: database: missing required key") }, "\(lines)")
    }
}
