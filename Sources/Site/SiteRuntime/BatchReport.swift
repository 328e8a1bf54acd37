import BatchStatistics
import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import POCareConfig
import POCareCore
import SiteStore

/// The batch IPC record for QP review, built from the store (`BatchRecordBuilder`): identity of
/// the spec and the equipment, start and end with who and why, phases, time in range and
/// unmonitored time per parameter, excursions, alarms, shelves and the clock evidence.
extension SiteDaemon {
    /// Reads the store on a dispatch thread: a long batch must not hold one of Swift's few
    /// cooperative threads. Waits for pending commits first, so a report right after
    /// `batch end` includes the end.
    func batchReport(_ batchId: String, device: String?) async throws(ControlResponse.Failure) -> BatchReport {
        await store.flush()
        let path = store.settings.path, devices = site.devices, specs = knownSpecs
        return try await offPool { () throws(ControlResponse.Failure) in
            try Self.batchReport(batchId: batchId, device: device, storePath: path, devices: devices, specs: specs)
        }
    }

    /// The record of one device's part of a batch: a batch that ran on several devices has a
    /// record per device, and without `device` only a batch of one device is answered.
    static func batchReport(
        batchId: String, device deviceId: String?, storePath: String, devices: [DeviceConfig], specs: [String: IPCSpec],
        now: Date = Date()
    ) throws(ControlResponse.Failure) -> BatchReport {
        try readingStore(storePath) { reader in
            try batchReport(batchId: batchId, device: deviceId, reader: reader, devices: devices, specs: specs, now: now)
        }
    }

    private static func batchReport(
        batchId: String, device deviceId: String?, reader: StoreReader, devices: [DeviceConfig], specs: [String: IPCSpec], now: Date
    ) throws -> BatchReport {
        let runs = try reader.batches().filter { $0.batch == batchId }
        guard !runs.isEmpty else {
            throw ControlResponse.Failure(code: .refused, message: "no batch '\(batchId)' in the store")
        }
        let record = try Self.record(of: batchId, device: deviceId, among: runs)
        // The spec the batch ran under, from the store: never whatever is loaded now.
        let catalogue = Dictionary(devices.map { ($0.profile.id, $0.profile) }, uniquingKeysWith: { a, _ in a })
        let stored = try reader.spec(fingerprint: record.spec)
        let spec = stored.flatMap { SpecLoader.parse($0.source, file: "stored spec \(record.spec)", profiles: catalogue).spec }
            ?? specs[record.spec]
        let device = devices.first { $0.id == record.device }

        var report = BatchReport(
            batch: batchId, device: record.device, spec: record.spec, started: Contract.format(record.started),
            ended: record.ended.map(Contract.format))
        identify(&report, spec: spec, stored: stored, profile: device?.profile)
        let events = try reader.events(batch: batchId).filter { $0.device == record.device }
            .map { (stored: $0, event: ControlEvent.stored($0.body)) }
        let daemonDown = events.compactMap { pair -> (from: Date, to: Date)? in
            guard pair.event?.kind == .batchResumed, let since = pair.event?.since, let until = pair.event?.until else { return nil }
            return (since, until)
        }
        let stream = StreamName.telemetry(device: record.device)
        // Each sample's time as the contract carries it, from the stored nanoseconds as the link writes them.
        let nanoseconds = try reader.sampleTimes(stream: stream, batch: batchId)
        let times = nanoseconds.map { BatchStatistics.contractTime(nanosecondsSince1970: $0) }
        var builder = BatchRecordBuilder(
            report: report, spec: spec, profile: device?.profile, holdLimit: BatchStatistics.holdLimit(times: times),
            start: record.started, end: record.ended ?? now, daemonDown: daemonDown)

        try addSamples(of: batchId, stream: stream, times: times, from: reader, to: &builder)
        let clockEvents = try reader.events(stream: .siteEvents, after: 0, limit: 1_000_000)
            .filter { $0.kind == ClockEventBody.synchronisationKind || $0.kind == ClockEventBody.stepKind }
        var built = builder.finish(events: events, clockEvents: clockEvents)
        built.specRelease = specRelease(events.map(\.stored))
        return built
    }

    /// The run of the batch on `deviceId`, or its only run when no device is named.
    private static func record(of batchId: String, device deviceId: String?, among runs: [StoreReader.BatchRecord])
        throws(ControlResponse.Failure) -> StoreReader.BatchRecord
    {
        if let deviceId {
            guard let run = runs.first(where: { $0.device == deviceId }) else {
                throw .init(code: .refused, message: "batch '\(batchId)' did not run on '\(deviceId)'; it ran on \(runs.map(\.device).joined(separator: ", "))")
            }
            return run
        } else {
            guard runs.count == 1, let only = runs.first else {
                throw .init(code: .refused, message: "batch '\(batchId)' ran on \(runs.map(\.device).joined(separator: ", ")): name the device (--device)")
            }
            return only
        }
    }

    /// The spec's identity (from the spec, or as far as the stored copy names it) and the equipment.
    private static func identify(_ report: inout BatchReport, spec: IPCSpec?, stored: StoredSpec?, profile: DeviceProfile?) {
        if let spec {
            report.specDocument = "\(spec.identity.documentId) version \(spec.identity.version)"
            report.specIdentity.document = spec.identity.documentId
            report.specIdentity.version = spec.identity.version
            report.specIdentity.product = spec.identity.product
            report.specIdentity.process = spec.identity.process
            report.specIdentity.approvedBy = spec.identity.approvedBy
            report.specIdentity.approvalDate = spec.identity.approvalDate
            report.specIdentity.changeControl = spec.identity.changeControl
        } else if let stored {
            report.specDocument = "\(stored.document) version \(stored.version)"
            report.specIdentity.document = stored.document
            report.specIdentity.version = stored.version
        }
        if let profile {
            report.equipment.profile = profile.id
            report.equipment.profileFingerprint = ProfileFingerprint.of(profile)
            report.equipment.vendor = profile.vendor
            report.equipment.model = profile.model
        }
    }

    /// The device's samples of this batch, in sequence order, a page at a time.
    private static func addSamples(
        of batchId: String, stream: StreamName, times: [Double], from reader: StoreReader, to builder: inout BatchRecordBuilder
    ) throws {
        var after: Int64 = 0
        while true {
            let page = try reader.samples(stream: stream, after: after, limit: 5000)
            guard let last = page.last else { break }
            after = last.seq
            for sample in page where sample.context.batchId == batchId {
                builder.add(sample, time: builder.samplesAdded < times.count ? times[builder.samplesAdded] : nil)
            }
        }
    }

    /// What the batch's events say of its spec's release: the standing at the start, and a
    /// retirement while it ran. Nil for a batch started before the site kept the register.
    static func specRelease(_ events: [StoredEvent]) -> POCareContract.BatchReport.SpecRelease? {
        guard let start = events.first(where: { $0.kind == SpecReleaseEventBody.startKind }).flatMap({ SpecReleaseEventBody.stored($0.body) })
        else { return nil }
        var release = POCareContract.BatchReport.SpecRelease(
            state: start.release, detail: start.detail, registerVersion: start.registerVersion, registerHash: start.registerHash,
            releaseRequired: start.releaseRequired ?? true)
        if let retired = events.first(where: { $0.kind == SpecReleaseEventBody.retiredKind }).flatMap({ SpecReleaseEventBody.stored($0.body) }) {
            release.retiredDuringBatch = .init(
                received: retired.time, retiredAt: retired.retiredAt, retiredBy: retired.retiredBy, reason: retired.reason,
                registerVersion: retired.registerVersion ?? 0)
        }
        return release
    }
}
