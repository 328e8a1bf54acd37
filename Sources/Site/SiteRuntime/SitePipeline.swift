import ControlSiteLink
import POCareContract
import Foundation
import Logging
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
    private let logger = Logger(label: "pocare.clock")
    /// Per device, what its samples are stored with: the profile's parameter ids (the order of
    /// the readings) and its enumeration labels.
    private struct StoredForm {
        var parameters: [String]
        var labels: SampleLabels
    }
    private var storedForms: [String: StoredForm]
    /// The forms before the last reload, and when it was applied (monotonic): a sample the
    /// stopped pollers took before it is stored with the profile it was taken under.
    private var previousForms: [String: StoredForm] = [:]
    private var reconfiguredAt = Int64.min
    private var events: [ControlEvent] = []
    /// Clock evidence for the batch records: synchronisation state and wall-clock steps.
    var clockWatch = ClockWatch()
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
        self.storedForms = Self.storedForms(site)
    }

    private static func storedForms(_ site: SiteConfig) -> [String: StoredForm] {
        Dictionary(site.devices.map { device in
            (device.id, StoredForm(parameters: device.profile.parameters.map(\.id), labels: SampleLabels(Contract.labels(of: device.profile))))
        }, uniquingKeysWith: { first, _ in first })
    }

    /// A clock finding becomes a site event (and a step also an audit entry), so every batch
    /// record can say whether its times were right.
    func record(_ finding: ClockWatch.Finding, at time: Date) {
        var body = ClockEventBody(kind: "", time: UTCTime.format(time))
        let kind: String
        switch finding {
        case .synchronisation(let now, let previous):
            kind = ClockEventBody.synchronisationKind
            body.synchronised = now.synchronised
            body.estimatedErrorUs = now.estimatedErrorMicroseconds
            body.previouslySynchronised = previous?.synchronised
            logger.log(
                level: now.synchronised ? .notice : .warning, "clock \(now.synchronised ? "synchronised" : "NOT synchronised")",
                metadata: ["estimated_error_us": "\(now.estimatedErrorMicroseconds)"])
        case .step(let seconds, let before, let after):
            kind = ClockEventBody.stepKind
            body.stepS = seconds
            body.before = UTCTime.format(before)
            body.after = UTCTime.format(after)
            logger.warning("the wall clock stepped", metadata: ["step_s": "\(seconds)"])
            store.auditNoticed(AuditAction(
                user: store.systemUser, action: "clock.step", target: "system clock",
                reason: "the wall clock moved \(seconds) s against the monotonic clock", oldValue: UTCTime.format(before),
                newValue: UTCTime.format(after)))
        }
        body.kind = kind
        store.append(EventRecord(stream: .siteEvents, device: "site", time: time, kind: kind, body: body.storedText))
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
        case .phaseFollowStopped:
            return .followDevicePhase(device: event.device, follows: false)
        case .batchEnded:
            return event.batchId.map { .ended(device: event.device, batch: $0, at: event.time, by: event.user, reason: event.reason) }
        case .shelved:
            guard let alarm = event.alarm, let until = event.until else { return nil }
            return .shelved(ShelfRecord(
                alarm: alarm.description, device: event.device, batch: event.batchId, until: until, user: event.user ?? "",
                reason: event.reason ?? ""))
        case .unshelved:
            return event.alarm.map { .unshelved(alarm: $0.description) }
        case .outOfService:
            return .outOfService(OutOfServiceRecord(
                target: event.alarm?.description ?? event.device, device: event.device, since: event.time, user: event.user ?? "",
                reason: event.reason ?? ""))
        case .inService:
            return .inService(target: event.alarm?.description ?? event.device)
        case .reset:
            return event.alarm.map { .unlatched(alarm: $0.description) }
        default:
            // Any transition that leaves an alarm latched (its condition returned) keeps the latch.
            if event.state == .latched, let alarm = event.alarm {
                return .latched(alarm: alarm.description, device: event.device, since: event.time)
            }
            return nil
        }
    }

    /// After a reload: new devices and profiles.
    /// Batches that ended since the daemon last looked: their records are to be committed and
    /// published (`SiteDaemon.recordEndedBatches`).
    var endedBatches: [(device: String, batch: String)] = []

    func reconfigure(site: SiteConfig, printer: LiveValuePrinter?) {
        self.printer = printer
        previousForms = storedForms
        storedForms = Self.storedForms(site)
        reconfiguredAt = MonotonicClock.now()
    }

    public func handle(_ sample: Sample) {
        for finding in clockWatch.observe(wall: sample.time, monotonic: sample.monotonicTime) { record(finding, at: sample.time) }
        printer?.print(sample)
        latest[sample.deviceId] = sample
        board.update(device: sample.deviceId, reachable: sample.readings.contains { $0.quality != .badCommunication })
        board.observeIdentity(device: sample.deviceId, readings: sample.readings)
        // Stored first, then evaluated: the sample is kept with the batch and phase it was taken
        // under (evaluating it may move a batch that follows the device's phase), whatever the
        // evaluation decides, and its events queue behind it in the same group commit.
        let batch = engine.batch(of: sample.deviceId)
        let form = ((sample.monotonicTime < reconfiguredAt ? previousForms[sample.deviceId] : nil) ?? storedForms[sample.deviceId])
            .flatMap { $0.parameters.count == sample.readings.count ? $0 : nil }
        store.append(
            sample,
            context: SampleContext(batchId: batch?.batchId, phase: batch?.phase, specFingerprint: batch?.spec.fingerprint),
            parameters: form?.parameters ?? sample.readings.map(\.parameterId), labels: form?.labels)
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
                if let batch = event.batchId { endedBatches.append((event.device, batch)) }
            default: break
            }
        }
        eventLog.record(events)
    }
}

