import BatchStatistics
import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore

/// Builds one device's IPC record of a batch from what the store holds: its samples in order,
/// its events and the site's clock events. Pure: no store, no clock; `SiteDaemon.batchReport`
/// feeds it.
///
/// The numbers (time weighting, time in range, unmonitored time, excursions) come from
/// `BatchStatistics`, the rule the Control Site applies to the same samples; this type adds
/// what only the site knows: why a stretch was unmonitored (the daemon was down, the device
/// unreachable) and the device's own serial and firmware.
struct BatchRecordBuilder {
    let report: BatchReport
    let spec: IPCSpec?
    let batchStart: Date
    let batchEnd: Date

    private var statistics: BatchStatistics.Accumulator
    private let trackIndex: [String: Int]
    private let labelled: Set<String>
    private var readingOrder: [String] = []
    private var readingTrack: [Int?] = []
    private var samples = 0
    private var badReadings = 0
    private var serial: String?
    private var firmware: String?

    /// - Parameter holdLimit: `BatchStatistics.holdLimit(times:)` of the device's samples in the batch.
    init(
        report: BatchReport, spec: IPCSpec?, profile: DeviceProfile?, holdLimit: Double, start: Date, end: Date,
        daemonDown: [(from: Date, to: Date)]
    ) {
        self.report = report
        self.spec = spec
        self.batchStart = start
        self.batchEnd = end
        let tracks = Self.tracks(spec: spec, profile: profile)
        trackIndex = Dictionary(uniqueKeysWithValues: tracks.enumerated().map { ($1.parameter, $0) })
        labelled = Set((profile?.parameters ?? []).filter { $0.enumeration != nil }.map(\.id))
        let down = daemonDown.map { (BatchStatistics.contractTime($0.from), BatchStatistics.contractTime($0.to)) }
        statistics = BatchStatistics.Accumulator(
            tracks: tracks, spec: spec, start: BatchStatistics.contractTime(start), end: BatchStatistics.contractTime(end),
            holdLimit: holdLimit,
            gapCause: { from, to in down.contains { $0.0 < to && $0.1 > from } ? "daemon not running" : BatchStatistics.noSamples })
    }

    /// The parameters a record follows: every measurement of the profile and every parameter
    /// the spec limits in some phase, by id. States (enumerations, bits, packed status words)
    /// get no mean.
    static func tracks(spec: IPCSpec?, profile: DeviceProfile?) -> [BatchStatistics.Track] {
        let parameters = profile?.parameters ?? []
        // A 16-bit word whose bits are parameters of their own is a packed status word.
        let bitWords = Set(parameters.filter { if case .bit = $0.dataType { true } else { false } }.map { "\($0.table.rawValue)/\($0.address)" })
        // So is an integer named for a status, word or flags: its number has no mean.
        func namesAState(_ p: Parameter) -> Bool {
            switch p.dataType {
            case .int16, .uint16, .int32, .uint32: ["status", "word", "flags"].contains { p.id.contains($0) }
            default: false
            }
        }
        let measured = Set(parameters.filter {
            $0.dataType.isNumeric && $0.enumeration == nil && !bitWords.contains("\($0.table.rawValue)/\($0.address)") && !namesAState($0)
        }.map(\.id))
        var ids = measured
        for phase in spec?.phases ?? [] { for limits in phase.limits { ids.insert(limits.parameterId) } }
        if let profile { ids = ids.filter { profile.parameter($0) != nil } }
        let units = Dictionary(parameters.map { ($0.id, $0.unit) }, uniquingKeysWith: { a, _ in a })
        return ids.sorted().map { BatchStatistics.Track(parameter: $0, unit: units[$0] ?? "", measured: measured.contains($0)) }
    }

    /// Samples added so far.
    var samplesAdded: Int { samples }

    /// Adds the next sample; `time` is its time as the contract carries it (from the stored
    /// nanoseconds), else taken from the sample's date.
    mutating func add(_ sample: StoredSample, time: Double? = nil) {
        samples += 1
        var qualities: Set<Quality> = []
        for reading in sample.readings {
            qualities.insert(reading.quality)
            guard reading.quality == .good else {
                badReadings += 1
                continue
            }
            if reading.parameterId == "serial_number", serial == nil, let value = reading.value { serial = text(value) }
            if reading.parameterId == "firmware_version", firmware == nil, let value = reading.value { firmware = text(value) }
        }
        mapReadings(sample.readings)
        var values = [BatchStatistics.Observed?](repeating: nil, count: statistics.tracks.count)
        var running: BatchStatistics.Observed?
        let runningParameter = statistics.runningParameter
        for (position, reading) in sample.readings.enumerated() where reading.quality == .good {
            let observed = Self.observed(reading, labels: labelled.contains(reading.parameterId) ? sample.labels : nil)
            if let track = readingTrack[position] { values[track] = observed }
            if reading.parameterId == runningParameter { running = observed }
        }
        let cause: String? =
            qualities == [.badCommunication] ? "device unreachable" : !qualities.contains(.good) ? "device fault" : nil
        statistics.add(
            time: time ?? BatchStatistics.contractTime(sample.time), phase: sample.context.phase ?? "-", deviceCause: cause, running: running
        ) { values[$0] }
    }

    /// Which track each reading of a sample feeds, worked out again only when the layout changes.
    private mutating func mapReadings(_ readings: [Reading]) {
        guard readings.count != readingOrder.count || !zip(readings, readingOrder).allSatisfy({ $0.parameterId == $1 }) else { return }
        readingOrder = readings.map(\.parameterId)
        readingTrack = readingOrder.map { trackIndex[$0] }
    }

    /// A reading as the contract carries it: an enumerated code as its label (by the labels the
    /// sample was taken under), a text as text, a flag as a flag.
    static func observed(_ reading: Reading, labels: SampleLabels?) -> BatchStatistics.Observed? {
        if let label = reading.label { return .label(label) }
        switch reading.value {
        case .number(let n)?:
            if let label = labels?.byParameter[reading.parameterId]?[n] { return .label(label) }
            return .number(n)
        case .flag(let b)?: return .flag(b)
        case .text(let s)?: return .label(s)
        case nil: return nil
        }
    }

    private func text(_ value: Value) -> String {
        switch value {
        case .text(let s): s
        case .number(let n): formatNumber(n)
        case .flag(let b): b ? "true" : "false"
        }
    }

    /// The record, with events and clock evidence added.
    mutating func finish(events: [(stored: StoredEvent, event: ControlEvent?)], clockEvents: [StoredEvent]) -> BatchReport {
        let summary = statistics.finish()
        var report = self.report
        report.samples = samples
        report.badReadings = badReadings
        report.holdLimitS = summary.holdLimitS
        report.equipment.serialNumber = serial
        report.equipment.firmwareVersion = firmware
        report.phases = summary.phases.map { phase in
            BatchReport.Phase(phase: phase.phase, durationS: phase.durationS, parameters: phase.parameters.map(Self.parameter))
        }
        report.unmonitored = summary.unmonitored.map {
            .init(from: Self.time($0.from), to: Self.time($0.to), durationS: $0.durationS, cause: $0.cause)
        }
        report.unmonitoredS = summary.unmonitoredS
        report.gaps = summary.unmonitored.filter { $0.cause == BatchStatistics.noSamples || $0.cause == "daemon not running" }.map {
            .init(from: Self.time($0.from), to: Self.time($0.to), durationS: $0.durationS)
        }
        report.excursions = summary.excursions.map { e in
            // Named as the parameter's alarm is: its discrete alarm where the phase gives it a discrete rule.
            let rule = spec?.phase(e.phase)?.limits(for: e.parameter)?.discrete == nil ? "limit" : "discrete"
            var x = BatchReport.Excursion(
                alarm: "\(report.device)/\(e.parameter)/\(rule)", phase: e.phase, start: Self.time(e.start), end: Self.time(e.end),
                durationS: e.durationS, worstValue: e.worstValue, worstLevel: e.worstLevel, side: e.side?.rawValue ?? "-",
                areaOutside: e.areaOutside, openAtBatchEnd: e.openAtBatchEnd)
            x.parameter = e.parameter
            x.worstLabel = e.worstLabel
            return x
        }
        addEvents(events, to: &report)
        addClock(clockEvents, to: &report)
        return report
    }

    static func parameter(_ p: BatchStatistics.ParameterSummary) -> BatchReport.ParameterSummary {
        var s = BatchReport.ParameterSummary(parameter: p.parameter, unit: p.unit)
        s.samples = p.samples
        s.min = p.min
        s.max = p.max
        s.mean = p.mean
        s.timeWeightedMean = p.timeWeightedMean
        s.standardDeviation = p.standardDeviation
        s.limited = p.limited
        s.monitoredS = p.monitoredS
        s.unmonitoredS = p.unmonitoredS
        s.inRangeS = p.inRangeS
        s.alertS = p.alertS
        s.actionS = p.actionS
        s.inRangePct = p.inRangeShare.map { $0 * 100 }
        s.alertPct = p.alertShare.map { $0 * 100 }
        s.actionPct = p.actionShare.map { $0 * 100 }
        s.unmonitoredPct = p.unmonitoredShare * 100
        return s
    }

    /// A time as the contract writes it: to the nearest millisecond.
    static func time(_ seconds: Double) -> String { Contract.format(Date(timeIntervalSince1970: seconds)) }
}
