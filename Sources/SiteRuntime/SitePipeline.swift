import ControlSiteLink
import Foundation
import InProcessControl
import POCareCore
import SiteStore
import Synchronization

/// What happens to each sample: it is written to the store with the batch context it was
/// taken under, held against the approved spec, and every resulting event is stored and logged.
public final class SitePipeline {
    let engine: ControlEngine
    let store: SiteStore
    let eventLog: EventLog
    private(set) var printer: LiveValuePrinter?
    let board: DeviceStatusBoard
    private var parameterIds: [String: [String]]
    private var events: [ControlEvent] = []
    /// The last sample of each device, for `pocarectl values`.
    public private(set) var latest: [String: Sample] = [:]
    init(
        site: SiteConfig, engine: ControlEngine, store: SiteStore, eventLog: EventLog, printer: LiveValuePrinter?,
        board: DeviceStatusBoard
    ) {
        self.board = board
        self.engine = engine
        self.store = store
        self.eventLog = eventLog
        self.printer = printer
        self.parameterIds = Dictionary(uniqueKeysWithValues: site.devices.map { ($0.id, $0.profile.parameters.map(\.id)) })
    }

    func stateChange(of event: ControlEvent) -> BatchStateChange? {
        switch event.kind {
        case .batchStarted, .batchResumed:
            guard let batch = engine.batch(of: event.device) else { return nil }
            let spec = batch.spec
            return .started(
                RunningBatch(
                    device: event.device, batch: batch.batchId, spec: spec.fingerprint, phase: batch.phase,
                    followDevicePhase: batch.phaseSource != .manual, started: event.time, startedBy: event.user, reason: event.reason),
                spec: spec.source.isEmpty
                    ? nil
                    : StoredSpec(
                        fingerprint: spec.fingerprint, document: spec.identity.documentId, version: spec.identity.version,
                        canonical: spec.canonicalForm, source: spec.source))
        case .phaseChanged:
            return event.phase.map { .phase(device: event.device, phase: $0) }
        case .batchEnded:
            return event.batchId.map { .ended(device: event.device, batch: $0, at: event.time, by: event.user, reason: event.reason) }
        case .shelved:
            guard let alarm = event.alarm, let until = event.until else { return nil }
            return .shelved(ShelfRecord(
                alarm: alarm.description, device: event.device, batch: event.batchId, until: until, user: event.user ?? "",
                reason: event.reason ?? ""))
        case .unshelved:
            return event.alarm.map { .unshelved(alarm: $0.description) }
        default:
            return nil
        }
    }

    /// After a reload: new devices and profiles.
    func reconfigure(site: SiteConfig, printer: LiveValuePrinter?) {
        self.printer = printer
        parameterIds = Dictionary(uniqueKeysWithValues: site.devices.map { ($0.id, $0.profile.parameters.map(\.id)) })
    }

    public func handle(_ sample: Sample) {
        printer?.print(sample)
        latest[sample.deviceId] = sample
        board.update(device: sample.deviceId, reachable: sample.readings.contains { $0.quality != .badCommunication })
        let batch = engine.batch(of: sample.deviceId)
        store.append(
            sample,
            context: SampleContext(batchId: batch?.batchId, phase: batch?.phase, specFingerprint: batch?.spec.fingerprint),
            parameters: parameterIds[sample.deviceId] ?? sample.readings.map(\.parameterId))
        engine.evaluate(sample, into: &events)
        if !events.isEmpty {
            record(events)
            events.removeAll(keepingCapacity: true)
        }
    }

    /// Stores and logs events, from evaluation or from batch and operator actions. An event
    /// that changes a running batch or a shelf carries the change into the store, to be
    /// written in the same transaction.
    func record(_ events: [ControlEvent]) {
        for event in events {
            let body = event.storedBody
            store.append(EventRecord(
                stream: StreamName.events(device: event.device), device: event.device, time: event.time, kind: event.kind.rawValue,
                alarm: event.alarm?.description, batchId: event.batchId, phase: event.phase,
                specFingerprint: event.specFingerprint, body: body, stateChange: stateChange(of: event)))
            switch event.kind {
            case .batchStarted, .batchResumed, .phaseChanged:
                board.update(device: event.device, batch: event.batchId, phase: event.phase, spec: event.specFingerprint)
            case .batchEnded:
                board.update(device: event.device, batch: nil, phase: nil, spec: nil)
            default: break
            }
        }
        eventLog.record(events)
    }
}

