import ControlAPI
import POCareContract
import Foundation
import InProcessControl
import Logging
import POCareCore
import SiteStore

/// Builds the record of a batch that ended and commits it as a `batch_record` event, beside the
/// pipeline rather than on it: a long batch's record reads its whole history from the store,
/// and polling and evaluation must go on meanwhile. The daemon waits for the builds still
/// running before it stops; one cut off by a crash is built again at the next start.
///
/// Used from the pipeline task only (the list of running builds); the builds themselves run on
/// dispatch threads and touch only the store and the values they were given.
final class BatchRecordCommitter {
    /// What a build reads besides the store, taken on the pipeline task when the batch ended.
    struct Sources: Sendable {
        var store: SiteStore
        var devices: [DeviceConfig]
        var specs: [String: IPCSpec]
        var openOutOfService: [OutOfServiceEntry]
    }

    private var running: [Task<Void, Never>] = []
    private static let logger = Logger(label: "pocare.daemon")

    func start(batch: String, device: String, reason: String, sources: Sources) {
        let build: @Sendable () async -> Void = { await Self.commit(batch: batch, device: device, reason: reason, sources: sources) }
        running.append(Task.detached(operation: build))
    }

    /// Waits for every build started so far.
    func waitForAll() async {
        let builds = running
        running = []
        for build in builds { await build.value }
    }

    private static func commit(batch: String, device: String, reason: String, sources: Sources) async {
        // Every sample and event of the batch is committed before the record reads them.
        await sources.store.flush()
        let path = sources.store.settings.path
        do {
            let report = try await offPool { () throws(ControlResponse.Failure) -> BatchReport in
                let report = try SiteDaemon.batchReport(
                    batchId: batch, device: device, storePath: path, devices: sources.devices, specs: sources.specs)
                return try SiteDaemon.withAlarmService(report, storePath: path, openNow: sources.openOutOfService)
            }
            sources.store.append(try event(report: report, batch: batch, device: device, reason: reason))
            logger.info("batch record committed for the Control Site", metadata: ["batch": "\(batch)", "device": "\(device)"])
        } catch {
            logger.error("the batch record could not be built", metadata: ["batch": "\(batch)", "error": "\(error)"])
        }
    }

    /// The `batch_record` event that carries a batch's complete record.
    static func event(report: BatchReport, batch: String, device: String, reason: String) throws -> EventRecord {
        let record = String(decoding: try JSONEncoder.control.encode(report), as: UTF8.self)
        let time = Date()
        var body = "{\"kind\":\"batch_record\",\"time\":\"\(UTCTime.format(time))\",\"device\":"
        body += String(decoding: try JSONEncoder().encode(device), as: UTF8.self)
        body += ",\"batch\":" + String(decoding: try JSONEncoder().encode(batch), as: UTF8.self)
        body += ",\"reason\":" + String(decoding: try JSONEncoder().encode(reason), as: UTF8.self)
        body += ",\"record\":" + record + "}"
        return EventRecord(
            stream: .events(device: device), device: device, time: time, kind: "batch_record", batchId: batch,
            specFingerprint: report.spec, body: body)
    }
}
