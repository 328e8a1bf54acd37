import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareCore
import SiteStore

/// The batch record's account of what happened: start, phases and end with who and why,
/// alarms with their acknowledgements, shelves, and the clock evidence.
extension BatchRecordBuilder {
    func addEvents(_ events: [(stored: StoredEvent, event: ControlEvent?)], to report: inout BatchReport) {
        var timeline: [BatchReport.PhasePeriod] = []
        for (stored, event) in events {
            guard let event else { continue }
            switch event.kind {
            case .batchStarted:
                report.start = .init(time: UTCTime.format(stored.time), by: event.user, reason: event.reason)
                report.startingMaterial = event.startingMaterial
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

    func addClock(_ clockEvents: [StoredEvent], to report: inout BatchReport) {
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
