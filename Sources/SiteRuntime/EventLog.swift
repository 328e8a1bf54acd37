import Foundation
import InProcessControl
import Logging

/// Writes every control event as one log line an operator or auditor can read; with the live
/// view on, also to standard output between the value lines.
struct EventLog {
    let printToStandardOutput: Bool
    private let logger = Logger(label: "pocare.control")

    init(printToStandardOutput: Bool) {
        self.printToStandardOutput = printToStandardOutput
    }

    func record(_ events: [ControlEvent]) {
        for event in events {
            let level: Logger.Level = switch event.kind {
            case .raised, .escalated, .communicationLost: .warning
            default: .notice
            }
            var metadata: Logger.Metadata = ["device": "\(event.device)", "event": "\(event.kind.rawValue)"]
            if let alarm = event.alarm { metadata["alarm"] = "\(alarm)" }
            if let spec = event.specFingerprint { metadata["spec"] = "\(spec)" }
            logger.log(level: level, "\(event.summary)", metadata: metadata)
            if printToStandardOutput {
                let line = "\(event.time.formatted(LiveValuePrinter.timeFormat)) \(event.device) EVENT \(event.summary)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
    }
}
