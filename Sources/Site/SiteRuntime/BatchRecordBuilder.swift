import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore

/// Builds a batch's IPC record from what the store holds: its samples in order, its events and
/// the site's clock events. Pure: no store, no clock; `SiteDaemon.batchReport` feeds it.
///
/// Time is weighted by the time between samples: each sample's values hold until the next
/// sample, for at most three poll intervals (two seconds at least). What lies beyond that, or
/// is covered by a sample without a good value, is unmonitored and listed with its cause.
struct BatchRecordBuilder {
    struct Accumulator {
        var summary: BatchReport.ParameterSummary
        var count = 0
        var sum = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity
        var weightedSum = 0.0
        var weightedSquares = 0.0
        var weight = 0.0
        var inRange = 0.0
        var alert = 0.0
        var action = 0.0
    }

    let report: BatchReport
    let spec: IPCSpec?
    let profile: DeviceProfile?
    let holdLimit: TimeInterval
    let batchStart: Date
    let batchEnd: Date
    let daemonDown: [(from: Date, to: Date)]
    /// Parameters with statistics: numbers that measure something (not states, flags or status words).
    let continuous: Set<String>
    let units: [String: String]

    private var previous: StoredSample?
    private var phases: [String: [String: Accumulator]] = [:]
    private var phaseOrder: [String] = []
    private var phaseDurations: [String: Double] = [:]
    private var unmonitored: [BatchReport.UnmonitoredInterval] = []
    private var samples = 0
    private var badReadings = 0
    private var serial: String?
    private var firmware: String?

    init(
        report: BatchReport, spec: IPCSpec?, profile: DeviceProfile?, pollInterval: TimeInterval, start: Date, end: Date,
        daemonDown: [(from: Date, to: Date)]
    ) {
        self.report = report
        self.spec = spec
        self.profile = profile
        self.holdLimit = max(3 * pollInterval, 2)
        self.batchStart = start
        self.batchEnd = end
        self.daemonDown = daemonDown
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
        continuous = Set(parameters.filter {
            $0.dataType.isNumeric && $0.enumeration == nil && !bitWords.contains("\($0.table.rawValue)/\($0.address)") && !namesAState($0)
        }.map(\.id))
        units = Dictionary(parameters.map { ($0.id, $0.unit) }, uniquingKeysWith: { a, _ in a })
    }

    mutating func add(_ sample: StoredSample) {
        samples += 1
        badReadings += sample.readings.filter { $0.quality != .good }.count
        for reading in sample.readings where reading.quality == .good {
            if reading.parameterId == "serial_number", serial == nil, let value = reading.value { serial = text(value) }
            if reading.parameterId == "firmware_version", firmware == nil, let value = reading.value { firmware = text(value) }
        }
        if let previous {
            hold(previous, until: sample.time)
        } else if sample.time.timeIntervalSince(batchStart) > holdLimit {
            addUnmonitored(from: batchStart, to: sample.time, cause: cause(ofGapFrom: batchStart, to: sample.time), phase: sample.context.phase)
        }
        previous = sample
    }

    /// Holds a sample's values until `next`, at most `holdLimit`; the rest is a gap.
    private mutating func hold(_ sample: StoredSample, until next: Date) {
        let phase = sample.context.phase ?? "-"
        let span = next.timeIntervalSince(sample.time)
        if span < 0 {
            // The wall clock went back: the interval cannot be measured.
            addUnmonitored(from: next, to: sample.time, cause: "clock step", phase: phase, counts: false)
            return
        }
        let held = min(span, holdLimit)
        account(sample, phase: phase, seconds: held)
        if span > held {
            let from = sample.time.addingTimeInterval(held)
            addUnmonitored(from: from, to: next, cause: cause(ofGapFrom: from, to: next), phase: phase)
        }
    }

    private func cause(ofGapFrom from: Date, to: Date) -> String {
        daemonDown.contains { $0.from < to && $0.to > from } ? "daemon not running" : "no samples"
    }

    /// Adds an unmonitored interval for the whole device, merged with the previous one when
    /// they touch and share a cause.
    private mutating func addUnmonitored(from: Date, to: Date, cause: String, phase: String?, counts: Bool = true) {
        let seconds = max(0, to.timeIntervalSince(from))
        if counts {
            let name = phase ?? "-"
            phaseDurations[name, default: 0] += seconds
            if !phaseOrder.contains(name) { phaseOrder.append(name) }
            addUnmonitoredSeconds(seconds, phase: name)
        }
        if var last = unmonitored.last, last.cause == cause, last.to == UTCTime.format(from) {
            last.to = UTCTime.format(to)
            last.durationS += seconds
            unmonitored[unmonitored.count - 1] = last
        } else {
            unmonitored.append(.init(from: UTCTime.format(from), to: UTCTime.format(to), durationS: seconds, cause: cause))
        }
    }

    private var trackedParameters: [String] {
        var ids = Set(continuous)
        for phase in spec?.phases ?? [] { for limits in phase.limits { ids.insert(limits.parameterId) } }
        if let profile { ids = ids.filter { profile.parameter($0) != nil } }
        return ids.sorted()
    }

    private mutating func addUnmonitoredSeconds(_ seconds: Double, phase: String) {
        var rows = phases[phase] ?? [:]
        for id in trackedParameters {
            var a = rows[id] ?? accumulator(id)
            a.summary.unmonitoredS += seconds
            rows[id] = a
        }
        phases[phase] = rows
    }

    private func accumulator(_ id: String) -> Accumulator {
        Accumulator(summary: .init(parameter: id, unit: units[id] ?? ""))
    }

    /// Whether the spec's running signal says the device is not running in this sample.
    private func notRunning(_ sample: StoredSample) -> Bool {
        guard let signal = spec?.running, let reading = sample.readings.first(where: { $0.parameterId == signal.parameterId }),
            reading.quality == .good, let value = reading.value
        else { return false }
        if signal.labels.isEmpty {
            if case .flag(let on) = value { return !on }
            if case .number(let n) = value { return n == 0 }
            return false
        }
        guard let label = reading.label else { return false }
        return !signal.labels.contains(label)
    }

    private mutating func account(_ sample: StoredSample, phase: String, seconds: Double) {
        phaseDurations[phase, default: 0] += seconds
        if !phaseOrder.contains(phase) { phaseOrder.append(phase) }
        let qualities = Set(sample.readings.map(\.quality))
        let deviceCause: String? =
            qualities == [.badCommunication] ? "device unreachable"
            : !qualities.contains(.good) ? "device fault"
            : notRunning(sample) ? "device not running" : nil
        if let deviceCause {
            let from = sample.time
            addUnmonitored(from: from, to: from.addingTimeInterval(seconds), cause: deviceCause, phase: phase, counts: false)
            addUnmonitoredSeconds(seconds, phase: phase)
            return
        }
        let limits = spec?.phase(phase)
        for id in trackedParameters {
            if phases[phase] == nil { phases[phase] = [:] }
            var a = phases[phase]![id] ?? accumulator(id)
            let reading = sample.readings.first { $0.parameterId == id }
            guard let reading, reading.quality == .good, let value = reading.value else {
                a.summary.unmonitoredS += seconds
                phases[phase]![id] = a
                continue
            }
            a.summary.samples += 1
            a.summary.monitoredS += seconds
            if case .number(let v) = value {
                if continuous.contains(id) {
                    a.count += 1
                    a.sum += v
                    a.minimum = min(a.minimum, v)
                    a.maximum = max(a.maximum, v)
                    a.weightedSum += v * seconds
                    a.weightedSquares += v * v * seconds
                    a.weight += seconds
                }
                if let l = limits?.limits(for: id) {
                    a.summary.limited = true
                    let alertLow = l.alertLow ?? l.actionLow ?? -.infinity, alertHigh = l.alertHigh ?? l.actionHigh ?? .infinity
                    let actionLow = l.actionLow ?? -.infinity, actionHigh = l.actionHigh ?? .infinity
                    if v >= alertLow && v <= alertHigh {
                        a.inRange += seconds
                    } else if v < actionLow || v > actionHigh {
                        a.action += seconds
                    } else {
                        a.alert += seconds
                    }
                }
            }
            phases[phase]![id] = a
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
        if let previous { hold(previous, until: max(batchEnd, previous.time)) }
        var report = self.report
        report.samples = samples
        report.badReadings = badReadings
        report.equipment.serialNumber = serial
        report.equipment.firmwareVersion = firmware
        report.phases = phaseOrder.map { phase in
            let total = phaseDurations[phase] ?? 0
            let rows = (phases[phase] ?? [:]).values.sorted { $0.summary.parameter < $1.summary.parameter }.map { a in
                var s = a.summary
                if a.count > 0 {
                    s.min = a.minimum
                    s.max = a.maximum
                    s.mean = a.sum / Double(a.count)
                }
                if a.weight > 0 {
                    let mean = a.weightedSum / a.weight
                    s.timeWeightedMean = mean
                    s.standardDeviation = (max(0, a.weightedSquares / a.weight - mean * mean)).squareRoot()
                }
                if s.limited {
                    s.inRangeS = a.inRange
                    s.alertS = a.alert
                    s.actionS = a.action
                    if s.monitoredS > 0 {
                        s.inRangePct = a.inRange / s.monitoredS * 100
                        s.alertPct = a.alert / s.monitoredS * 100
                        s.actionPct = a.action / s.monitoredS * 100
                    }
                }
                s.unmonitoredPct = total > 0 ? s.unmonitoredS / total * 100 : 0
                return s
            }
            return BatchReport.Phase(phase: phase, durationS: total, parameters: rows)
        }
        report.unmonitored = unmonitored
        report.unmonitoredS = unmonitored.filter { $0.cause != "clock step" }.map(\.durationS).reduce(0, +)
        report.gaps = unmonitored.filter { $0.cause == "no samples" || $0.cause == "daemon not running" }.map {
            .init(from: $0.from, to: $0.to, durationS: $0.durationS)
        }
        addEvents(events, to: &report)
        addClock(clockEvents, to: &report)
        return report
    }

    private func addEvents(_ events: [(stored: StoredEvent, event: ControlEvent?)], to report: inout BatchReport) {
        var timeline: [BatchReport.PhasePeriod] = []
        for (stored, event) in events {
            guard let event else { continue }
            switch event.kind {
            case .batchStarted:
                report.start = .init(time: UTCTime.format(stored.time), by: event.user, reason: event.reason)
                timeline.append(.init(phase: event.phase ?? "-", from: UTCTime.format(stored.time), to: nil, by: event.user, reason: event.reason))
            case .phaseChanged:
                if !timeline.isEmpty { timeline[timeline.count - 1].to = UTCTime.format(stored.time) }
                timeline.append(.init(phase: event.phase ?? "-", from: UTCTime.format(stored.time), to: nil, by: event.user, reason: event.reason))
            case .batchEnded:
                report.end = .init(time: UTCTime.format(stored.time), by: event.user, reason: event.reason)
                if !timeline.isEmpty { timeline[timeline.count - 1].to = UTCTime.format(stored.time) }
            default: break
            }
        }
        report.phaseTimeline = timeline
        report.excursions = events.compactMap { $0.event?.excursion }.map { e in
            .init(
                alarm: e.alarm.description, phase: e.phase, start: UTCTime.format(e.start), end: UTCTime.format(e.end),
                durationS: Double(e.duration.nanoseconds) / 1e9, worstValue: e.worstValue, worstLevel: e.worstLevel.description,
                side: e.side.rawValue, areaOutside: e.areaOutside, openAtBatchEnd: e.openAtBatchEnd)
        }
        var alarms: [BatchReport.Alarm] = []
        for (index, (stored, event)) in events.enumerated() where [.raised, .escalated, .communicationLost].contains(event?.kind) {
            var row = BatchReport.Alarm(
                alarm: stored.alarm ?? "", kind: stored.kind, time: UTCTime.format(stored.time), level: event?.level?.description,
                value: event?.value, limit: event?.limit, phase: stored.phase)
            let later = events[(index + 1)...].filter { $0.stored.alarm == stored.alarm }
            if let ack = later.first(where: { $0.event?.kind == .acknowledged }) {
                row.acknowledgedBy = ack.event?.user
                row.acknowledgedAt = UTCTime.format(ack.stored.time)
                row.reason = ack.event?.reason
            }
            if let end = later.first(where: { [.cleared, .communicationRestored, .openAtBatchEnd].contains($0.event?.kind) }) {
                if end.event?.kind == .openAtBatchEnd { row.openAtBatchEnd = true } else { row.cleared = UTCTime.format(end.stored.time) }
            }
            alarms.append(row)
        }
        report.alarms = alarms
        var shelves: [BatchReport.Shelve] = []
        for (index, (stored, event)) in events.enumerated() where event?.kind == .shelved {
            var shelve = BatchReport.Shelve(
                alarm: stored.alarm ?? "", by: event?.user, reason: event?.reason, from: UTCTime.format(stored.time),
                until: event?.until.map(UTCTime.format))
            if let end = events[(index + 1)...].first(where: { $0.stored.alarm == stored.alarm && $0.event?.kind == .unshelved }) {
                shelve.ended = UTCTime.format(end.stored.time)
                shelve.endReason = end.event?.reason
            }
            shelves.append(shelve)
        }
        report.shelves = shelves
    }

    private func addClock(_ clockEvents: [StoredEvent], to report: inout BatchReport) {
        let atStart = clockEvents.last { $0.kind == ClockEventBody.synchronisationKind && $0.time <= batchStart }
        let within = clockEvents.filter { $0.time > batchStart && $0.time <= batchEnd }
        func synchronised(_ event: StoredEvent) -> Bool? { ClockEventBody.stored(event.body)?.synchronised }
        let states = ([atStart].compactMap { $0 } + within.filter { $0.kind == ClockEventBody.synchronisationKind }).compactMap(synchronised)
        let steps = within.filter { $0.kind == ClockEventBody.stepKind }
        report.clock = .init(
            synchronisedThroughout: states.isEmpty ? nil : states.allSatisfy { $0 } && steps.isEmpty,
            events: ([atStart].compactMap { $0 } + within).map { event in
                .init(time: UTCTime.format(event.time), kind: event.kind, detail: event.body)
            })
    }
}
