import Foundation
import POCareContract

/// What a command answers. On the wire the result is an object with one key naming its kind,
/// e.g. `"result":{"status":{...}}`; times are UTC ISO 8601 text with milliseconds.
public enum ControlResult: Sendable {
    case status(StatusReport)
    case reload(ReloadResult)
    case devices(DeviceList)
    case values(DeviceValues)
    case alarms(AlarmList)
    case alarmHistory(AlarmHistory)
    case alarmAction(AlarmActionResult)
    case batch(BatchState)
    case batchList(BatchList)
    case batchReport(BatchReport)
    case auditVerification(AuditVerificationReport)
    case auditEntries(AuditEntryList)
    case verification(VerificationReport)
    case specs(SpecRegisterList)
}

extension ControlResult: Codable {
    enum CodingKeys: String, CodingKey {
        case status, reload, devices, values, alarms, alarmHistory, alarmAction, batch, batchList, batchReport,
            auditVerification, auditEntries, verification, specs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = c.allKeys.first, c.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "a result names exactly one kind"))
        }
        switch key {
        case .status: self = .status(try c.decode(StatusReport.self, forKey: key))
        case .reload: self = .reload(try c.decode(ReloadResult.self, forKey: key))
        case .devices: self = .devices(try c.decode(DeviceList.self, forKey: key))
        case .values: self = .values(try c.decode(DeviceValues.self, forKey: key))
        case .alarms: self = .alarms(try c.decode(AlarmList.self, forKey: key))
        case .alarmHistory: self = .alarmHistory(try c.decode(AlarmHistory.self, forKey: key))
        case .alarmAction: self = .alarmAction(try c.decode(AlarmActionResult.self, forKey: key))
        case .batch: self = .batch(try c.decode(BatchState.self, forKey: key))
        case .batchList: self = .batchList(try c.decode(BatchList.self, forKey: key))
        case .batchReport: self = .batchReport(try c.decode(BatchReport.self, forKey: key))
        case .auditVerification: self = .auditVerification(try c.decode(AuditVerificationReport.self, forKey: key))
        case .auditEntries: self = .auditEntries(try c.decode(AuditEntryList.self, forKey: key))
        case .verification: self = .verification(try c.decode(VerificationReport.self, forKey: key))
        case .specs: self = .specs(try c.decode(SpecRegisterList.self, forKey: key))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .status(let r): try c.encode(r, forKey: .status)
        case .reload(let r): try c.encode(r, forKey: .reload)
        case .devices(let r): try c.encode(r, forKey: .devices)
        case .values(let r): try c.encode(r, forKey: .values)
        case .alarms(let r): try c.encode(r, forKey: .alarms)
        case .alarmHistory(let r): try c.encode(r, forKey: .alarmHistory)
        case .alarmAction(let r): try c.encode(r, forKey: .alarmAction)
        case .batch(let r): try c.encode(r, forKey: .batch)
        case .batchList(let r): try c.encode(r, forKey: .batchList)
        case .batchReport(let r): try c.encode(r, forKey: .batchReport)
        case .auditVerification(let r): try c.encode(r, forKey: .auditVerification)
        case .auditEntries(let r): try c.encode(r, forKey: .auditEntries)
        case .verification(let r): try c.encode(r, forKey: .verification)
        case .specs(let r): try c.encode(r, forKey: .specs)
        }
    }

    /// The payload alone, as the JSON `pocarectl --json` prints.
    public var payloadJSON: String {
        // For notes about an unexpected answer only: a payload that cannot be encoded shows as {}.
        (try? JSONEncoder.control.encode(payload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private var payload: any Encodable {
        switch self {
        case .status(let r): r
        case .reload(let r): r
        case .devices(let r): r
        case .values(let r): r
        case .alarms(let r): r
        case .alarmHistory(let r): r
        case .alarmAction(let r): r
        case .batch(let r): r
        case .batchList(let r): r
        case .batchReport(let r): r
        case .auditVerification(let r): r
        case .auditEntries(let r): r
        case .verification(let r): r
        case .specs(let r): r
        }
    }
}
