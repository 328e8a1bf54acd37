import Foundation
import POCareCore

/// The daemon's plain live view: one line per device per poll, values with their units.
struct LiveValuePrinter {
    let units: [String: [String: String]]

    init(site: SiteConfig) {
        var units: [String: [String: String]] = [:]
        for device in site.devices {
            units[device.id] = Dictionary(uniqueKeysWithValues: device.profile.parameters.map { ($0.id, $0.unit) })
        }
        self.units = units
    }

    func print(_ sample: Sample) {
        let time = UTCTime.format(sample.time)
        let fields = sample.readings.map { reading -> String in
            guard reading.quality == .good, let value = reading.value else {
                return "\(reading.parameterId)=?(\(reading.quality.rawValue))"
            }
            if let label = reading.label { return "\(reading.parameterId)=\(label)" }
            let unit = units[sample.deviceId]?[reading.parameterId] ?? ""
            let shown = unit.isEmpty || unit == "1" ? "\(value)" : "\(value) \(unit)"
            return "\(reading.parameterId)=\(shown)"
        }
        let missed = sample.missedCycles > 0 ? " missed=\(sample.missedCycles)" : ""
        FileHandle.standardOutput.write(Data("\(time) \(sample.deviceId)\(missed) \(fields.joined(separator: " "))\n".utf8))
    }
}
