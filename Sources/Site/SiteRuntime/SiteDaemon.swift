import Acquisition
import ControlAPI
import POCareContract
import ControlSiteLink
import Foundation
import MQTT
import Hashing
import InProcessControl
import Logging
import POCareConfig
import POCareCore
import ServiceSupport
import SiteStore
import Synchronization

/// What the daemon's one pipeline task consumes, in order: samples from every poller, and
/// the reload and stop requests that arrive by signal between them.
public enum DaemonInput: Sendable {
    case sample(Sample)
    case reload
    case stop
    /// An operator's request from the control socket, answered through `reply`.
    case control(ControlRequest, ControlPeer, reply: @Sendable (ControlResponse) -> Void)
    /// A register the Control Site published to the site, read and checked by the link.
    case register(ReceivedRegister)
}

/// The running site: store, engine, pipeline, pollers and link, and how a reload swaps the
/// pollers between two poll cycles without losing or repeating a sample.
public final class SiteDaemon {
    public let configPath: String
    public let store: SiteStore
    public let engine = ControlEngine()
    public let pipeline: SitePipeline
    let board: DeviceStatusBoard
    public private(set) var site: SiteConfig
    private(set) var acquisition: AcquisitionService
    private(set) var link: ControlSiteLink?
    let inputs: AsyncStream<DaemonInput>
    /// Where pollers, the control socket and signals put what the pipeline task must handle.
    public let input: AsyncStream<DaemonInput>.Continuation
    private let printValues: Bool
    let logger = Logger(label: "pocare.daemon")
    let recordCommitter = BatchRecordCommitter()
    /// What other threads (the watchdog, the store's commit handler) may look at.
    let parts = RunningParts()
    /// The site's key, which signs checkpoints of every chain (nil: records go unsigned).
    let identity: (key: Ed25519.PrivateKey, publicKey: Ed25519.PublicKey)?
    private var lastCheckpoint = MonotonicClock.now()
    /// Specs the daemon has seen (configuration and batch starts), by fingerprint.
    var knownSpecs: [String: IPCSpec] = [:] { didSet { board.register(specs: knownSpecs) } }
    /// The latest accepted version of each Control Site register, by kind, and when it arrived.
    var registers: [String: (register: ControlSiteRegister, received: Date)] = [:]
    /// Register messages refused once (by hash): a retained one arrives again on every
    /// reconnect and is audited only the first time.
    var refusedRegisters: Set<String> = []
    /// Every batch id ever started at the site: a batch id names one run.
    var usedBatchIds: Set<String> = []
    /// What became of each device's configured batch (`ConfiguredBatches`).
    var configured: [String: ConfiguredBatch] = [:]
    /// Devices whose configured batch waits for the first poll, to start in the phase the device reports.
    var awaitingFirstPoll: Set<String> = []

    /// Builds the parts without starting any: `runPipeline` consumes, `startParts` starts the
    /// pollers and the link, `shutDown` closes what is left.
    public init(site: SiteConfig, configPath: String, store: SiteStore, printValues: Bool) {
        self.site = site
        self.configPath = configPath
        self.store = store
        self.printValues = printValues
        (inputs, input) = AsyncStream<DaemonInput>.makeStream()
        board = DeviceStatusBoard(site: site)
        pipeline = SitePipeline(
            site: site, engine: engine, store: store, eventLog: EventLog(printToStandardOutput: printValues),
            printer: printValues ? LiveValuePrinter(site: site) : nil, board: board)
        let input = self.input
        acquisition = AcquisitionService(config: site) { input.yield(.sample($0)) }
        identity = Self.loadIdentity(site, logger: logger)
        link = Self.makeLink(site: site, store: store, board: board, input: input, identity: identity?.key)
        parts.update(pollers: acquisition.pollers, link: link)
        for device in site.devices { if let spec = device.batch?.spec { knownSpecs[spec.fingerprint] = spec } }
        board.register(specs: knownSpecs)
    }

    static func loadIdentity(_ site: SiteConfig, logger: Logger) -> (key: Ed25519.PrivateKey, publicKey: Ed25519.PublicKey)? {
        guard let path = site.controlSite?.identityKeyFile else {
            if site.controlSite != nil {
                logger.warning("no control_site.identity_key: records and births go unsigned, and the Control Site cannot certify them")
            }
            return nil
        }
        do {
            let key = try SiteConfigLoader.readIdentityKey(path).get()
            return (key, try key.publicKey())
        } catch {
            logger.error("the site's identity key cannot be used; records go unsigned", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Commits a signed checkpoint of every chain (after what is queued before it).
    func checkpoint(reason: String) {
        guard let identity else { return }
        store.checkpoint(site: site.siteId, reason: reason, key: identity.key, publicKey: identity.publicKey)
        lastCheckpoint = MonotonicClock.now()
    }

    /// A checkpoint once the interval has passed since the last (samples arrive every poll, so
    /// this runs often enough whatever the devices do).
    func checkpointIfDue() {
        let interval = site.controlSite?.checkpointInterval ?? .seconds(60)
        if MonotonicClock.now() - lastCheckpoint >= interval.nanoseconds { checkpoint(reason: "interval") }
    }

    static func makeLink(
        site: SiteConfig, store: SiteStore, board: DeviceStatusBoard, input: AsyncStream<DaemonInput>.Continuation,
        identity: Ed25519.PrivateKey?
    ) -> ControlSiteLink? {
        guard let controlSite = site.controlSite else { return nil }
        var broker = BrokerOptions(host: controlSite.host, port: controlSite.port, clientId: controlSite.clientId)
        broker.mqtt5 = controlSite.mqtt5
        broker.keepAlive = controlSite.keepAlive
        broker.username = controlSite.username
        broker.password = controlSite.password
        if controlSite.usesTLS {
            broker.tls = .init(caFile: controlSite.caFile ?? "", certFile: controlSite.certFile, keyFile: controlSite.keyFile)
        }
        var settings = ControlSiteLink.Settings(broker: broker, site: site.siteId)
        settings.topicRoot = controlSite.topicRoot
        settings.window = controlSite.window
        settings.telemetryBatch = controlSite.telemetryBatch
        settings.identity = identity
        // Checked when the configuration was read; nil here only for a configuration without one.
        settings.controlSiteKey = controlSite.controlSiteKey.flatMap { try? Ed25519.PublicKey(text: $0) }
        settings.answerUnsignedReplay = controlSite.answerUnsignedReplay
        return ControlSiteLink(
            settings: settings, storePath: store.settings.path, store: store, status: { board.contractStatus },
            retained: { board.retained }, registers: { input.yield(.register($0)) })
    }

    /// The configuration's identity in the audit trail: the file's hash and the specs in force.
    static func fingerprint(configPath: String, site: SiteConfig) -> String {
        // The file was just read to load `site`; should it have gone since, the hash is of no text
        // and the audit entry still names the devices and specs in force.
        let text = (try? String(contentsOfFile: configPath, encoding: .utf8)) ?? ""
        let specs = Set(site.devices.compactMap { $0.batch?.spec.fingerprint }).sorted()
        return "config=sha256:\(SHA256.hex(text)) devices=\(site.devices.map(\.id).joined(separator: ",")) specs=\(specs.joined(separator: ","))"
    }

    /// Registers the devices, takes up again every batch that was running when the daemon
    /// stopped (held to the same spec, read from the store, in the same phase, with its
    /// shelves), takes up the Control Site's registers as last received, and starts each batch
    /// the configuration names where the device runs no batch and the id was never used.
    /// Nothing here ends a batch: only a person does. Each start is audited first.
    public func startBatches(for devices: [DeviceConfig]) async throws {
        let saved = try await offPool { [path = store.settings.path] () throws(SQLiteError) in try SavedBatchState(storePath: path) }
        usedBatchIds = saved.batchIds
        takeUpRegisters(saved.registers)
        for device in devices {
            engine.register(device: device.id, profile: device.profile)
            // Maintenance does not end because the daemon restarted.
            for entry in saved.outOfService where entry.device == device.id {
                guard let target = OutOfServiceTarget(entry.target) else { continue }
                engine.restoreOutOfService(OutOfServiceEntry(target: target, user: entry.user, reason: entry.reason, since: entry.since))
            }
            if let running = saved.running.first(where: { $0.device == device.id }) {
                await resume(running, saved: saved)
                for latch in saved.latches where latch.device == device.id {
                    if let alarm = AlarmID(latch.alarm) { engine.restoreLatch(alarm, since: latch.since) }
                }
            }
        }
        let configuredIds = Set(devices.map(\.id))
        for running in saved.running where !configuredIds.contains(running.device) {
            // Kept as it is: the batch resumes when the device is configured again.
            logger.critical(
                "a running batch's device is not in the configuration; the batch is kept, unwatched, until the device is configured again",
                metadata: ["device": "\(running.device)", "batch": "\(running.batch)"])
        }
        await settleConfiguredBatches(cause: "start")
        // A batch that ended just before the daemon stopped may lack its record: commit it now,
        // so it still reaches the Control Site.
        for missing in saved.endedWithoutRecord {
            await recordBatch(missing.batch, device: missing.device, reason: "batch ended (record committed after a restart)")
        }
    }

    /// Takes a batch up again after a restart, exactly as it was, and records the interval
    /// nobody watched. A batch whose spec cannot be read back is not guessed at: it is left
    /// in the store, and the failure is logged and audited.
    private func resume(_ running: RunningBatch, saved: SavedBatchState) async {
        let now = Timestamp(wall: Date(), monotonic: MonotonicClock.now())
        let catalogue = Dictionary(site.devices.map { ($0.profile.id, $0.profile) }, uniquingKeysWith: { a, _ in a })
        guard let stored = saved.specs[running.spec],
            let spec = SpecLoader.parse(stored.source, file: "stored spec \(running.spec)", profiles: catalogue).spec,
            spec.fingerprint == running.spec
        else {
            logger.critical(
                "a running batch cannot be resumed: its spec is not in the store or no longer reads to the same fingerprint",
                metadata: ["device": "\(running.device)", "batch": "\(running.batch)", "spec": "\(running.spec)"])
            await auditAfterTheFact(AuditAction(
                user: store.systemUser, action: "batch.resume.failed", target: running.device,
                reason: "spec \(running.spec) could not be read back from the store", oldValue: "batch=\(running.batch)"))
            return
        }
        let lastWatched = saved.lastRecord[running.device] ?? running.started
        do {
            _ = try await store.audit(AuditAction(
                user: store.systemUser, action: "batch.resume", target: running.device,
                reason: "the daemon restarted; not watched from \(UTCTime.format(lastWatched)) to \(UTCTime.format(now.wall))",
                newValue: "batch=\(running.batch) spec=\(running.spec) phase=\(running.phase)"))
            knownSpecs[spec.fingerprint] = spec
            pipeline.record(try engine.startBatch(
                device: running.device, batchId: running.batch, spec: spec, phase: running.phase,
                followDevicePhase: running.followDevicePhase, user: store.systemUser, reason: "resumed after a restart",
                resumingAfter: lastWatched, at: now))
            for shelf in saved.shelves where shelf.device == running.device && shelf.batch == running.batch && shelf.until > now.wall {
                guard let alarm = AlarmID(shelf.alarm) else { continue }
                // At most the 24 h a shelve may last, whatever the stored time says.
                let seconds = min(shelf.until.timeIntervalSince(now.wall), 86_400)
                let remaining = Duration.nanoseconds(Int64(seconds * 1e9))
                // A shelve the engine refuses now (its alarm no longer raised) is simply not kept.
                if let events = try? engine.shelve(
                    alarm, for: max(.seconds(1), remaining), user: shelf.user, reason: "\(shelf.reason) (kept across a restart)", at: now)
                {
                    pipeline.record(events)
                }
            }
            logger.notice(
                "batch resumed", metadata: ["device": "\(running.device)", "batch": "\(running.batch)", "phase": "\(running.phase)"])
        } catch {
            logger.critical("batch not resumed", metadata: ["device": "\(running.device)", "batch": "\(running.batch)", "error": "\(error)"])
        }
    }

    /// Re-reads configuration, profiles and specs. A valid one replaces the pollers between
    /// cycles (the old ones finish their cycle and every sample they took is still handled);
    /// an invalid one, or one that would remove the device of a running batch or change its
    /// profile, is refused and the running configuration goes on. Both are audited. A reload
    /// never ends, restarts or re-phases a batch; a configured batch starts as at start-up.
    @discardableResult
    public func reload(user: String? = nil, reason: String = "SIGHUP") async -> Result<ReloadResult, ControlResponse.Failure> {
        let user = user ?? store.systemUser
        let result = SiteConfigLoader.load(path: configPath)
        let old = Self.fingerprint(configPath: configPath, site: site)
        guard let next = result.config, next.siteId == site.siteId else {
            let errors = result.diagnostics.map(\.description)
            let reason = result.config == nil
                ? (errors.prefix(5).joined(separator: "; ") + (errors.count > 5 ? "; ..." : ""))
                : "the site id cannot change on reload"
            for line in errors { logger.error("reload refused: \(line)") }
            logger.error("configuration reload refused; the running configuration goes on", metadata: ["reason": "\(reason)"])
            await auditAfterTheFact(AuditAction(
                user: user, action: "config.reload.refused", target: configPath, reason: reason, oldValue: old))
            return .failure(.init(code: .refused, message: "configuration not valid; the running one goes on:\n" + errors.joined(separator: "\n")))
        }
        let new = Self.fingerprint(configPath: configPath, site: next)
        // A running batch belongs to the operator who started it: a reload may not take its
        // device away or change how the device is read under it.
        let conflicts = batchesAReloadWouldBreak(next)
        guard conflicts.isEmpty else {
            let reason = conflicts.joined(separator: "; ")
            logger.error("configuration reload refused; the running configuration goes on", metadata: ["reason": "\(reason)"])
            await auditAfterTheFact(AuditAction(
                user: user, action: "config.reload.refused", target: configPath, reason: reason, oldValue: old, newValue: new))
            return .failure(.init(code: .refused, message: "not applied; the running configuration goes on: " + reason))
        }
        do {
            _ = try await store.audit(AuditAction(
                user: user, action: "config.reload", target: configPath, reason: reason, oldValue: old, newValue: new))
        } catch {
            logger.error("reload not applied: the audit entry could not be written", metadata: ["error": "\(error)"])
            return .failure(.init(code: .failed, message: "not applied: the audit entry could not be written (\(error))"))
        }
        // Stop the old pollers at their cycle boundary, off Swift's cooperative threads.
        let previous = acquisition
        await offPool { previous.stop() }
        let before = Dictionary(uniqueKeysWithValues: site.devices.map { ($0.id, $0) })
        let after = Dictionary(uniqueKeysWithValues: next.devices.map { ($0.id, $0) })
        for id in before.keys where after[id] == nil { engine.unregister(device: id) }
        for device in next.devices {
            guard let earlier = before[device.id], ProfileFingerprint.of(earlier.profile) == ProfileFingerprint.of(device.profile)
            else {
                engine.register(device: device.id, profile: device.profile)
                continue
            }
            // The same register map: stale times and communication settings change in place.
            if earlier.profile != device.profile { engine.updateMonitoring(device: device.id, profile: device.profile) }
        }
        let controlSiteChanged = next.controlSite != site.controlSite
        site = next
        pipeline.reconfigure(site: next, printer: printValues ? LiveValuePrinter(site: next) : nil)
        board.reset(site: next, engine: engine)
        let input = self.input
        acquisition = AcquisitionService(config: next) { input.yield(.sample($0)) }
        if controlSiteChanged {
            let old = link
            await offPool { old?.stop() }
            link = Self.makeLink(site: next, store: store, board: board, input: input, identity: identity?.key)
            link?.start()
        }
        parts.update(pollers: acquisition.pollers, link: link)
        await settleConfiguredBatches(cause: "reload")
        acquisition.start()
        logger.notice("configuration reloaded", metadata: ["devices": "\(next.devices.map(\.id).joined(separator: ","))", "user": "\(user)"])
        return .success(ReloadResult(applied: true, configuration: new))
    }

    /// The pipeline task: consumes samples, operator requests, reloads and the stop request in
    /// order until the stop, after which every sample the stopped pollers took has been handled.
    /// `afterReload` runs after each reload, applied or refused.
    public func runPipeline(afterReload: () -> Void = {}) async {
        for await item in inputs {
            switch item {
            case .sample(let sample):
                pipeline.handle(sample)
                checkpointIfDue()
                if !awaitingFirstPoll.isEmpty, awaitingFirstPoll.contains(sample.deviceId) {
                    await settleConfiguredBatches(cause: "first poll of \(sample.deviceId)")
                }
            case .register(let received):
                await receive(received)
            case .reload:
                await reload()
                afterReload()
            case .control(let request, let peer, let reply):
                reply(await handle(request, from: peer))
                if case .reload = request.command { afterReload() }
            case .stop:
                // Every sample the pollers took before they stopped is already queued ahead of
                // the end of the stream.
                let acquisition = self.acquisition
                await offPool { acquisition.stop() }
                input.finish()
            }
            if !pipeline.endedBatches.isEmpty { recordEndedBatches() }
        }
    }

    /// Commits the complete record of each batch that ended (what `pocarectl batch report
    /// --json` shows) as a `batch_record` event on the device's event stream, so it reaches the
    /// Control Site like any record: after an outage too, from the store. The record is built
    /// beside the pipeline (`BatchRecordCommitter`): polling and evaluation go on meanwhile.
    func recordEndedBatches() {
        let ended = pipeline.endedBatches
        pipeline.endedBatches = []
        let sources = BatchRecordCommitter.Sources(
            store: store, devices: site.devices, specs: knownSpecs, openOutOfService: engine.outOfService())
        for (device, batch) in ended { recordCommitter.start(batch: batch, device: device, reason: "batch ended", sources: sources) }
        checkpoint(reason: "batch_end")
    }

    /// The whole record, as `pocarectl batch report --json` shows it and the Control Site receives it.
    func completeBatchReport(_ batch: String, device: String?) async throws(ControlResponse.Failure) -> BatchReport {
        try await withAlarmService(try await batchReport(batch, device: device))
    }

    /// On an operator's request: the record of an ended batch, committed (and so published) again.
    func publishBatchRecord(_ batch: String, device: String?, by peer: ControlPeer) async throws(ControlResponse.Failure)
        -> BatchReport
    {
        let report = try await completeBatchReport(batch, device: device)
        guard report.ended != nil else { throw .init(code: .refused, message: "batch '\(batch)' has not ended") }
        // An operator's action: audited before it takes effect, or refused.
        try await audit(AuditAction(
            user: peer.user, action: "batch.publish", target: report.device, reason: "re-published on request", newValue: "batch=\(batch)"))
        await recordBatch(batch, device: report.device, reason: "re-published on request", report: report)
        return report
    }

    /// Builds the batch's record from the store and commits it as a `batch_record` event.
    func recordBatch(_ batch: String, device: String, reason: String, report built: BatchReport? = nil) async {
        do {
            let report: BatchReport
            if let built { report = built } else { report = try await completeBatchReport(batch, device: device) }
            store.append(try BatchRecordCommitter.event(report: report, batch: batch, device: device, reason: reason))
            logger.info("batch record committed for the Control Site", metadata: ["batch": "\(batch)", "device": "\(device)"])
        } catch {
            logger.error("the batch record could not be built", metadata: ["batch": "\(batch)", "error": "\(error)"])
        }
    }

    /// The audit entry of what has already happened (a refusal, a failed resume, the stop), which
    /// cannot be undone when the entry cannot be written: that is then logged as critical.
    func auditAfterTheFact(_ action: AuditAction) async {
        do { _ = try await store.audit(action) } catch {
            logger.critical("an audit entry could not be written", metadata: [
                "action": "\(action.action)", "target": "\(action.target)", "error": "\(error)",
            ])
        }
    }

    /// Starts the pollers and the Control Site link.
    public func startParts() {
        acquisition.start()
        link?.start()
    }

    /// After the pipeline task has ended: the last audit entry, the last commit, the link's
    /// last publish, and the store closed.
    public func shutDown() async {
        // Records of batches that ended just before the stop are committed before it.
        await recordCommitter.waitForAll()
        await auditAfterTheFact(AuditAction(user: store.systemUser, action: "daemon.stop", target: configPath))
        // The last checkpoint covers every record, the stop entry too.
        checkpoint(reason: "stop")
        await store.flush()
        // Both wait for threads of their own (the link's last publish, the writer's last
        // commit): off Swift's cooperative threads.
        let link = self.link, store = self.store
        await offPool {
            link?.stop()
            store.close()
        }
    }

    let started = Date()
}

struct BatchKey: Hashable {
    var device: String
    var batch: String
}

/// What the store holds of the batches, read once at start.
struct SavedBatchState: Sendable {
    var running: [RunningBatch] = []
    var shelves: [ShelfRecord] = []
    var specs: [String: StoredSpec] = [:]
    var lastRecord: [String: Date] = [:]
    var ended: Set<BatchKey> = []
    var outOfService: [OutOfServiceRecord] = []
    var latches: [(alarm: String, device: String, since: Date)] = []
    var endedWithoutRecord: [(device: String, batch: String)] = []
    var batchIds: Set<String> = []
    var registers: [StoredRegister] = []

    /// Throws what the store said when it cannot be read: a daemon that started as if no batch
    /// had run could reuse an ended batch's id and would leave running batches unwatched.
    init(storePath: String) throws(SQLiteError) {
        let reader = try StoreReader(path: storePath)
        batchIds = try reader.batchIds()
        registers = try reader.latestRegisters()
        endedWithoutRecord = try reader.endedBatchesWithoutRecord()
        latches = try reader.latches()
        outOfService = try reader.outOfService()
        running = try reader.runningBatches()
        shelves = try reader.shelves()
        for batch in running {
            if let spec = try reader.spec(fingerprint: batch.spec) { specs[batch.spec] = spec }
            if let last = try reader.lastRecordTime(device: batch.device) { lastRecord[batch.device] = last }
        }
        ended = Set(try reader.batches().filter { $0.ended != nil }.map { BatchKey(device: $0.device, batch: $0.batch) })
    }
}

/// The pollers and link currently running, readable from any thread.
final class RunningParts: Sendable {
    private let current = Mutex<(pollers: [DevicePoller], link: ControlSiteLink?)>(([], nil))

    func update(pollers: [DevicePoller], link: ControlSiteLink?) { current.withLock { $0 = (pollers, link) } }
    var pollers: [DevicePoller] { current.withLock { $0.pollers } }
    var link: ControlSiteLink? { current.withLock { $0.link } }
}
