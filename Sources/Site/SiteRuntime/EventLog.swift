import Foundation
import InProcessControl
import POCareCore
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
                let line = "\(UTCTime.format(event.time)) \(event.device) EVENT \(event.summary)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
    }
}

extension ControlEvent {
    /// The event as the store keeps it (and the Control Site receives it): JSON with sorted keys
    /// and UTC times in milliseconds.
    /// Every number in an event comes from a finite reading, so encoding does not fail; should
    /// one ever be infinite, the loss of the event's content is logged, never silent.
    var storedBody: String {
        do {
            return String(decoding: try Self.storeEncoder.encode(self), as: UTF8.self)
        } catch {
            Logger(label: "pocare.daemon").critical(
                "an event could not be encoded; stored without its content",
                metadata: ["device": "\(device)", "event": "\(summary)", "error": "\(error)"])
            return "{}"
        }
    }

    /// Reads a stored event body back; nil for a body this version cannot read (a reader then
    /// goes by the stored row's own columns, or skips it).
    static func stored(_ body: String) -> ControlEvent? {
        try? storeDecoder.decode(ControlEvent.self, from: Data(body.utf8))
    }

    private static let storeEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(UTCTime.format(date))
        }
        return encoder
    }()

    private static let storeDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = UTCTime.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UTC time: \(text)")
            }
            return date
        }
        return decoder
    }()
}
