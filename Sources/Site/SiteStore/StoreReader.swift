import CSQLite
import POCareContract
import Foundation
import POCareCore

/// Reads the store on a connection of its own (for pocarectl, the publisher, reports and tests),
/// never through the writer.
public final class StoreReader {
    let connection: SQLiteConnection
    /// Statements prepared once and reused: the publisher reads thousands of pages a second.
    private var statements: [String: SQLiteStatement] = [:]
    /// Parameter lists by layout id and label sets by id: a few rows, read once.
    private var layoutCache: [Int64: [String]] = [:]
    private var labelSetCache: [Int64: SampleLabels?] = [:]

    public init(path: String) throws(SQLiteError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "no store at \(path)", sql: nil)
        }
        connection = try SQLiteConnection(path: path, readOnly: true)
        // A reader's page cache as small as the writer's (`SiteStore.pageCacheKiB`).
        try connection.execute("PRAGMA cache_size = -\(SiteStore.pageCacheKiB)")
    }

    /// The store's identity, made when it was created (see `SiteStore.epoch`).
    public func epoch() throws(SQLiteError) -> String {
        guard let epoch = try connection.scalar("SELECT epoch FROM store_identity") else {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "the store has no identity row", sql: nil)
        }
        return epoch
    }

    public func streams() throws(SQLiteError) -> [StreamState] {
        let query = try statement("SELECT stream, last_seq, delivered_seq FROM streams ORDER BY stream")
        defer { query.reset() }
        var result: [StreamState] = []
        while try query.step() {
            guard let stream = StreamName(query.text(0) ?? "") else { continue }
            result.append(StreamState(stream: stream, lastSeq: query.int64(1), deliveredSeq: query.int64(2)))
        }
        return result
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    public func integrityCheck() throws(SQLiteError) -> String {
        let query = try connection.prepare("PRAGMA integrity_check")
        var lines: [String] = []
        while try query.step() { lines.append(query.text(0) ?? "") }
        return lines.joined(separator: "\n")
    }

    /// The first sequence number a stream still holds (nil when it holds none: never written,
    /// or everything pruned).
    public func firstSeq(stream: StreamName) throws(SQLiteError) -> Int64? {
        let table = stream.table
        let query = try connection.prepare(
            table == "audit" ? "SELECT MIN(seq) FROM audit" : "SELECT MIN(seq) FROM \(table) WHERE stream = ?")
        if table != "audit" { query.bind(1, stream.description) }
        guard try query.step(), !query.isNull(0) else { return nil }
        return query.int64(0)
    }

    /// Sequence numbers present in a stream, in order (for checks and tests).
    public func sequenceNumbers(stream: StreamName) throws(SQLiteError) -> [Int64] {
        let table = stream.table
        let sql = table == "audit" ? "SELECT seq FROM audit ORDER BY seq" : "SELECT seq FROM \(table) WHERE stream = ? ORDER BY seq"
        let query = try connection.prepare(sql)
        if table != "audit" { query.bind(1, stream.description) }
        var result: [Int64] = []
        while try query.step() { result.append(query.int64(0)) }
        return result
    }

    private func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached.reset() }
        let prepared = try connection.prepare(sql)
        statements[sql] = prepared
        return prepared
    }

    /// A layout's parameter ids, in the order of the readings.
    public func parameters(ofLayout id: Int64) throws(SQLiteError) -> [String] {
        if let known = layoutCache[id] { return known }
        let query = try statement("SELECT parameters FROM layouts WHERE id = ?")
        query.bind(1, id)
        guard try query.step() else {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "no sample layout \(id)", sql: nil)
        }
        let parameters = (query.text(0) ?? "").split(separator: ",").map(String.init)
        query.reset()
        layoutCache[id] = parameters
        return parameters
    }

    /// A stored set of enumeration labels (nil for an id the store lacks or cannot read).
    public func labels(ofSet id: Int64) throws(SQLiteError) -> SampleLabels? {
        if let known = labelSetCache[id] { return known }
        let query = try statement("SELECT labels FROM label_sets WHERE id = ?")
        query.bind(1, id)
        let labels = try query.step() ? (query.text(0)).flatMap { SampleLabels(text: $0) } : nil
        query.reset()
        labelSetCache[id] = labels
        return labels
    }

    /// The stored samples of a stream, row by row in sequence order, read in place so a message
    /// can be written straight from the stored bytes. What a row gives is valid until the next
    /// `step()`; `close()` (or the next cursor) ends the read.
    public struct SampleCursor {
        let row: SQLiteStatement
        /// Moves to the next row; false at the end.
        public func step() throws(SQLiteError) -> Bool { try row.step() }
        public func close() { row.reset() }
        public var seq: Int64 { row.int64(0) }
        public var timeNanoseconds: Int64 { row.int64(1) }
        public var cycle: Int64 { row.int64(2) }
        public var batch: UnsafeRawBufferPointer? { row.bytes(3) }
        public var phase: UnsafeRawBufferPointer? { row.bytes(4) }
        public var spec: UnsafeRawBufferPointer? { row.bytes(5) }
        public var layout: Int64 { row.int64(6) }
        /// The readings as `SampleCodec` packed them.
        public var readings: UnsafeRawBufferPointer { row.bytes(7) ?? UnsafeRawBufferPointer(start: nil, count: 0) }
        public var hash: UnsafeRawBufferPointer? { row.bytes(8) }
        /// The id of the label set the sample was taken under; nil for samples stored without one.
        public var labelSet: Int64? { row.isNull(9) ? nil : row.int64(9) }
    }

    /// Opens a cursor over the samples of a stream after `seq` up to `last`, at most `limit`.
    public func sampleCursor(stream: StreamName, after seq: Int64, through last: Int64 = .max, limit: Int) throws(SQLiteError)
        -> SampleCursor
    {
        let query = try statement("""
            SELECT seq, time_ns, cycle, batch, phase, spec, layout, readings, hash, labels
            FROM samples WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?
            """)
        query.bind(1, stream.description)
        query.bind(2, seq)
        query.bind(3, last)
        query.bind(4, Int64(limit))
        return SampleCursor(row: query)
    }

    /// Samples of a stream after `seq`, in sequence order: what replay after an outage reads.
    public func samples(stream: StreamName, after seq: Int64, limit: Int) throws(SQLiteError) -> [StoredSample] {
        let query = try connection.prepare("""
            SELECT s.seq, s.device, s.time_ns, s.cycle, s.batch, s.phase, s.spec, l.parameters, s.readings, s.hash, s.labels
            FROM samples s JOIN layouts l ON l.id = s.layout
            WHERE s.stream = ? AND s.seq > ? ORDER BY s.seq LIMIT ?
            """)
        query.bind(1, stream.description)
        query.bind(2, seq)
        query.bind(3, Int64(limit))
        var result: [StoredSample] = []
        var parameterCache: [String: [String]] = [:]
        var previous = try hash(before: seq + 1, stream: stream)
        while try query.step() {
            let layoutText = query.text(7) ?? ""
            let parameters = parameterCache[layoutText] ?? layoutText.split(separator: ",").map(String.init)
            parameterCache[layoutText] = parameters
            let readings: [Reading]
            do {
                readings = try SampleCodec.decode(query.blob(8), parameters: parameters)
            } catch {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "sample \(stream) \(query.int64(0)): \(error)", sql: nil)
            }
            result.append(StoredSample(
                stream: stream, seq: query.int64(0), device: query.text(1) ?? "",
                time: Date(nanosecondsSince1970: query.int64(2)), cycle: query.int64(3),
                context: SampleContext(batchId: query.text(4), phase: query.text(5), specFingerprint: query.text(6)),
                readings: readings, hash: query.text(9), previousHash: previous,
                labels: query.isNull(10) ? nil : try labels(ofSet: query.int64(10))))
            result[result.count - 1].timeNanoseconds = query.int64(2)
            previous = result[result.count - 1].hash
        }
        return result
    }

    /// Events of a stream after `seq`, in sequence order.
    public func events(stream: StreamName, after seq: Int64, limit: Int) throws(SQLiteError) -> [StoredEvent] {
        let query = try connection.prepare(
            "SELECT seq, device, time_ns, kind, alarm, batch, phase, spec, body, hash FROM events WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?")
        query.bind(1, stream.description)
        query.bind(2, seq)
        query.bind(3, Int64(limit))
        var result: [StoredEvent] = []
        var previous = try hash(before: seq + 1, stream: stream)
        while try query.step() {
            result.append(StoredEvent(
                stream: stream, seq: query.int64(0), device: query.text(1) ?? "", time: Date(nanosecondsSince1970: query.int64(2)),
                kind: query.text(3) ?? "", alarm: query.text(4), batchId: query.text(5), phase: query.text(6),
                specFingerprint: query.text(7), body: query.text(8) ?? "", hash: query.text(9), previousHash: previous,
                timeNanoseconds: query.int64(2)))
            previous = result[result.count - 1].hash
        }
        return result
    }

    /// The chain hash that precedes record `seq` of a sample or event stream: the previous
    /// record's hash, the anchor's hash when the previous record was pruned (or the genesis hash
    /// before the first record), nil when neither is known (records from before the chain).
    public func hash(before seq: Int64, stream: StreamName) throws(SQLiteError) -> String? {
        let anchor = try statement("SELECT anchor_seq, anchor_hash FROM streams WHERE stream = ?")
        defer { anchor.reset() }
        anchor.bind(1, stream.description)
        let (anchorSeq, anchorHash): (Int64, String?) = try anchor.step() ? (anchor.int64(0), anchor.text(1)) : (0, nil)
        if seq - 1 == anchorSeq { return anchorHash ?? RecordChain.genesis }
        if seq - 1 < anchorSeq { return nil }
        let row = try statement("SELECT hash FROM \(stream.table) WHERE stream = ? AND seq = ?")
        defer { row.reset() }
        row.bind(1, stream.description)
        row.bind(2, seq - 1)
        return try row.step() ? row.text(0) : nil
    }

    public struct AuditFilter: Sendable {
        public var user: String?
        public var action: String?
        public var since: Date?
        public var until: Date?
        public var limit: Int?
        public init(user: String? = nil, action: String? = nil, since: Date? = nil, until: Date? = nil, limit: Int? = nil) {
            self.user = user
            self.action = action
            self.since = since
            self.until = until
            self.limit = limit
        }
    }

    public func auditEntries(_ filter: AuditFilter = AuditFilter()) throws(SQLiteError) -> [AuditEntry] {
        var conditions: [String] = []
        if filter.user != nil { conditions.append("user = ?1") }
        if filter.action != nil { conditions.append("action LIKE ?2") }
        if filter.since != nil { conditions.append("time_ns >= ?3") }
        if filter.until != nil { conditions.append("time_ns < ?4") }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let limit = filter.limit.map { "LIMIT \(max(0, $0))" } ?? ""
        let query = try connection.prepare("""
            SELECT seq, time_ns, user, action, target, reason, old_value, new_value, previous_hash, hash
            FROM audit \(whereClause) ORDER BY seq \(filter.limit != nil ? "DESC" : "") \(limit)
            """)
        if let user = filter.user { query.bind(1, user) }
        if let action = filter.action { query.bind(2, action.replacingOccurrences(of: "*", with: "%")) }
        if let since = filter.since { query.bind(3, since.nanosecondsSince1970) }
        if let until = filter.until { query.bind(4, until.nanosecondsSince1970) }
        var result: [AuditEntry] = []
        while try query.step() { result.append(Self.auditEntry(query)) }
        return filter.limit != nil ? result.reversed() : result
    }

    /// Audit entries after `seq`, in order (for publishing).
    public func auditEntries(after seq: Int64, limit: Int) throws(SQLiteError) -> [AuditEntry] {
        let query = try connection.prepare("""
            SELECT seq, time_ns, user, action, target, reason, old_value, new_value, previous_hash, hash
            FROM audit WHERE seq > ? ORDER BY seq LIMIT ?
            """)
        query.bind(1, seq)
        query.bind(2, Int64(limit))
        var result: [AuditEntry] = []
        while try query.step() { result.append(Self.auditEntry(query)) }
        return result
    }

    /// One row of `SELECT seq, time_ns, user, action, target, reason, old_value, new_value, previous_hash, hash`.
    private static func auditEntry(_ row: SQLiteStatement) -> AuditEntry {
        let action = AuditAction(
            user: row.text(2) ?? "", action: row.text(3) ?? "", target: row.text(4) ?? "", reason: row.text(5),
            oldValue: row.text(6), newValue: row.text(7))
        return AuditEntry(
            seq: row.int64(0), time: Date(nanosecondsSince1970: row.int64(1)), timeNanoseconds: row.int64(1),
            action: action, previousHash: row.text(8) ?? "", hash: row.text(9) ?? "")
    }

    public struct BatchRecord: Sendable {
        public var device: String
        public var batch: String
        public var spec: String
        public var started: Date
        public var ended: Date?
    }

    public func batches() throws(SQLiteError) -> [BatchRecord] {
        let query = try connection.prepare("SELECT device, batch, spec, started_ns, ended_ns FROM batches ORDER BY started_ns")
        var result: [BatchRecord] = []
        while try query.step() {
            result.append(BatchRecord(
                device: query.text(0) ?? "", batch: query.text(1) ?? "", spec: query.text(2) ?? "",
                started: Date(nanosecondsSince1970: query.int64(3)),
                ended: query.isNull(4) ? nil : Date(nanosecondsSince1970: query.int64(4))))
        }
        return result
    }

    /// Events of one batch (any device), in time order.
    public func events(batch: String) throws(SQLiteError) -> [StoredEvent] {
        let query = try connection.prepare(
            "SELECT stream, seq, device, time_ns, kind, alarm, batch, phase, spec, body FROM events WHERE batch = ? ORDER BY time_ns, seq")
        query.bind(1, batch)
        var result: [StoredEvent] = []
        while try query.step() {
            result.append(StoredEvent(
                stream: StreamName(query.text(0) ?? "") ?? .events(device: query.text(2) ?? ""), seq: query.int64(1), device: query.text(2) ?? "",
                time: Date(nanosecondsSince1970: query.int64(3)), kind: query.text(4) ?? "", alarm: query.text(5),
                batchId: query.text(6), phase: query.text(7), specFingerprint: query.text(8), body: query.text(9) ?? "",
                timeNanoseconds: query.int64(3)))
        }
        return result
    }

    /// Walks the whole audit chain.
    public func verifyAudit() throws(SQLiteError) -> AuditVerification {
        let recorded = try streams().first { $0.stream == .audit }?.lastSeq ?? 0
        return AuditChain.verify(try auditEntries(), recordedLast: recorded)
    }
}
