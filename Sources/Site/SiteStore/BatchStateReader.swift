import CSQLite
import POCareContract
import Foundation

extension StoreReader {
    /// Every version of every register the site accepted, oldest first within each kind.
    public func registers(kind: String? = nil) throws(SQLiteError) -> [StoredRegister] {
        let query = try connection.prepare("""
            SELECT kind, version, hash, signer_name, signer_user, signed_at, meaning, canonical, received_ns FROM registers
            WHERE ?1 IS NULL OR kind = ?1 ORDER BY kind, version
            """)
        query.bind(1, kind)
        var result: [StoredRegister] = []
        while try query.step() {
            result.append(StoredRegister(
                kind: query.text("kind") ?? "", version: query.int64("version"), hash: query.text("hash") ?? "",
                signerName: query.text("signer_name") ?? "", signerUser: query.text("signer_user") ?? "",
                signedAt: query.text("signed_at") ?? "", meaning: query.text("meaning") ?? "", canonical: query.text("canonical") ?? "",
                received: Date(nanosecondsSince1970: query.int64("received_ns"))))
        }
        return result
    }

    /// The latest version of each kind of register.
    public func latestRegisters() throws(SQLiteError) -> [StoredRegister] {
        var latest: [String: StoredRegister] = [:]
        for register in try registers() where (latest[register.kind]?.version ?? 0) < register.version { latest[register.kind] = register }
        return latest.values.sorted { $0.kind < $1.kind }
    }

    /// Every batch id ever started at the site, on any device: a batch id names one run.
    public func batchIds() throws(SQLiteError) -> Set<String> {
        let query = try connection.prepare("SELECT DISTINCT batch FROM batches")
        var ids: Set<String> = []
        while try query.step() { if let id = query.text("batch") { ids.insert(id) } }
        return ids
    }

    /// The batches that were running when the store was last written, by device.
    public func runningBatches() throws(SQLiteError) -> [RunningBatch] {
        let query = try connection.prepare("""
            SELECT device, batch, spec, phase, follow_device_phase, started_ns, started_by, reason FROM running_batches ORDER BY device
            """)
        var result: [RunningBatch] = []
        while try query.step() {
            result.append(RunningBatch(
                device: query.text(0) ?? "", batch: query.text(1) ?? "", spec: query.text(2) ?? "", phase: query.text(3) ?? "",
                followDevicePhase: query.int64(4) != 0, started: Date(nanosecondsSince1970: query.int64(5)), startedBy: query.text(6),
                reason: query.text(7)))
        }
        return result
    }

    /// Shelves still standing, by alarm.
    public func shelves() throws(SQLiteError) -> [ShelfRecord] {
        let query = try connection.prepare("SELECT alarm, device, batch, until_ns, user, reason FROM shelves ORDER BY alarm")
        var result: [ShelfRecord] = []
        while try query.step() {
            result.append(ShelfRecord(
                alarm: query.text(0) ?? "", device: query.text(1) ?? "", batch: query.text(2),
                until: Date(nanosecondsSince1970: query.int64(3)), user: query.text(4) ?? "", reason: query.text(5) ?? ""))
        }
        return result
    }

    /// Alarms and devices out of service, oldest first.
    public func outOfService() throws(SQLiteError) -> [OutOfServiceRecord] {
        let query = try connection.prepare("SELECT target, device, since_ns, user, reason FROM out_of_service ORDER BY since_ns")
        var result: [OutOfServiceRecord] = []
        while try query.step() {
            result.append(OutOfServiceRecord(
                target: query.text(0) ?? "", device: query.text(1) ?? "", since: Date(nanosecondsSince1970: query.int64(2)),
                user: query.text(3) ?? "", reason: query.text(4) ?? ""))
        }
        return result
    }

    /// Latched alarms waiting for a reset: alarm, device, since.
    public func latches() throws(SQLiteError) -> [(alarm: String, device: String, since: Date)] {
        let query = try connection.prepare("SELECT alarm, device, since_ns FROM latches ORDER BY alarm")
        var result: [(alarm: String, device: String, since: Date)] = []
        while try query.step() {
            result.append((query.text(0) ?? "", query.text(1) ?? "", Date(nanosecondsSince1970: query.int64(2))))
        }
        return result
    }

    /// Batches whose end is on record but whose batch record is not (the daemon stopped between
    /// the two), so a start can commit what is missing. A batch whose end was pruned is done with.
    public func endedBatchesWithoutRecord() throws(SQLiteError) -> [(device: String, batch: String)] {
        let query = try connection.prepare("""
            SELECT b.device, b.batch FROM batches b
            WHERE b.ended_ns IS NOT NULL
              AND EXISTS (SELECT 1 FROM events e WHERE e.batch = b.batch AND e.device = b.device AND e.kind = 'batch_ended')
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.batch = b.batch AND e.device = b.device AND e.kind = 'batch_record')
            ORDER BY b.ended_ns
            """)
        var result: [(device: String, batch: String)] = []
        while try query.step() { result.append((query.text(0) ?? "", query.text(1) ?? "")) }
        return result
    }

    /// A spec as it was when a batch ran under it.
    public func spec(fingerprint: String) throws(SQLiteError) -> StoredSpec? {
        let query = try connection.prepare("SELECT fingerprint, document, version, canonical, source FROM specs WHERE fingerprint = ?")
        query.bind(1, fingerprint)
        guard try query.step() else { return nil }
        return StoredSpec(
            fingerprint: query.text(0) ?? "", document: query.text(1) ?? "", version: query.text(2) ?? "",
            canonical: query.text(3) ?? "", source: query.text(4) ?? "")
    }

    /// The time of a device's last stored record (sample or event): where watching stopped.
    public func lastRecordTime(device: String) throws(SQLiteError) -> Date? {
        var latest: Int64?
        for (table, stream) in [("samples", StreamName.telemetry(device: device)), ("events", StreamName.events(device: device))] {
            let query = try connection.prepare("SELECT time_ns FROM \(table) WHERE stream = ? ORDER BY seq DESC LIMIT 1")
            query.bind(1, stream.description)
            if try query.step() { latest = max(latest ?? .min, query.int64(0)) }
        }
        return latest.map { Date(nanosecondsSince1970: $0) }
    }
}
