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

    /// Stores and logs events, from evaluation or from batch and operator actions.
    func record(_ events: [ControlEvent]) {
        for event in events {
            let body = event.storedBody
            store.append(EventRecord(
                stream: .events(device: event.device), device: event.device, time: event.time, kind: event.kind.rawValue,
                alarm: event.alarm?.description, batchId: event.batchId, phase: event.phase,
                specFingerprint: event.specFingerprint, body: body))
            switch event.kind {
            case .batchStarted, .phaseChanged:
                board.update(device: event.device, batch: event.batchId, phase: event.phase, spec: event.specFingerprint)
            case .batchEnded:
                board.update(device: event.device, batch: nil, phase: nil, spec: nil)
            default: break
            }
            switch event.kind {
            case .batchStarted:
                if let batch = event.batchId, let spec = event.specFingerprint {
                    store.recordBatchStart(device: event.device, batch: batch, spec: spec, at: event.time)
                }
            case .batchEnded:
                if let batch = event.batchId { store.recordBatchEnd(device: event.device, batch: batch, at: event.time) }
            default: break
            }
        }
        eventLog.record(events)
    }
}

