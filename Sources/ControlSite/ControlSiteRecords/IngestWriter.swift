import Foundation
import POCareContract
import Logging

/// Writes what arrived from the broker into PostgreSQL, a batch of messages per transaction.
///
/// The database decides what is new: every record is inserted with `ON CONFLICT DO NOTHING`
/// on `(site, epoch, stream, seq)`, so a resend, or a copy another instance already stored, is
/// dropped; a dropped copy whose content differs from the stored one is an integrity finding.
/// Per stream the progress (contiguous, highest, gaps) is read with a row lock, advanced by
/// what was actually inserted, and written back in the same transaction, so instances sharing
/// the load agree on it. Not thread-safe: one thread (the ingest writer's) owns it.
public final class IngestWriter {
    public enum Item: Sendable {
        case message(ContractMessage)
        /// A message refused before it reached a writer: its size and first bytes for the record of it.
        case rejected(ContractMessage.Failure, bytes: Int = 0, excerpt: String = "")
    }

    public struct Outcome: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var gapsOpened = 0
        /// What sites say of themselves rather than records: statuses, device metadata, spec documents.
        public var siteMessages = 0
        public var rejected = 0
        /// Record messages held aside (a device no birth names, values its metadata does not name).
        public var held = 0
    }

    let connection: PostgresConnection
    let logger: Logger
    let siteKeys: SiteKeyRegister
    let sequenceJumpLimit: SequenceJumpLimit
    private let admission: IngestAdmission

    public init(
        connection: PostgresConnection, logger: Logger, topicRoot: String = "pocare/v1", siteKeys: SiteKeyRegister = .open,
        sequenceJumpLimit: SequenceJumpLimit = .standard
    ) throws(PostgresError) {
        self.siteKeys = siteKeys
        self.sequenceJumpLimit = sequenceJumpLimit
        self.connection = connection
        self.logger = logger
        admission = IngestAdmission(topicRoot: topicRoot)
        // A batch of a backlog is 100,000 samples: staged and sorted in memory, not in temporary files.
        try connection.execute("SET temp_buffers = '256MB'")
        try connection.execute("SET work_mem = '64MB'")
        try connection.execute("""
            CREATE TEMP TABLE IF NOT EXISTS staged_records (
                kind text NOT NULL, site text NOT NULL, epoch text NOT NULL, stream text NOT NULL,
                device text, record jsonb NOT NULL, body text
            ) ON COMMIT DELETE ROWS
            """)
        try connection.execute("""
            CREATE TEMP TABLE IF NOT EXISTS staged_samples (
                site text NOT NULL, epoch text NOT NULL, stream text NOT NULL, device text, seq bigint NOT NULL,
                time timestamptz NOT NULL, cycle bigint, batch text, phase text, spec text, "values" json NOT NULL,
                quality json, hash text, previous_hash text, time_ns bigint, raw json
            ) ON COMMIT DELETE ROWS
            """)
    }

    /// Writes `items` in one transaction. Throws what the database said; the caller retries
    /// the same items (a retry is harmless: everything already stored is a duplicate).
    public func write(_ items: [Item]) throws -> Outcome {
        var outcome = Outcome()
        let now = Date()
        try connection.transaction {
            // Only registered sites, and only statuses the site signed, are taken as the site's.
            let items = try admit(items)
            var records = items.compactMap { item -> RecordMessage? in
                if case .message(.records(let m)) = item { return m } else { return nil }
            }
            // Devices a birth or metadata of this transaction names: what was held of them is looked at again.
            var announced = Set<SiteDevice>()
            for item in items {
                switch item {
                case .message(.status(let status)):
                    for device in try writeStatus(status) { announced.insert(SiteDevice(site: status.site, device: device)) }
                    try applyConfirmedMetadata(status)
                    outcome.siteMessages += 1
                case .rejected(let failure, let bytes, let excerpt):
                    try RefusedMessage.record(failure, bytes: bytes, excerpt: excerpt, on: connection)
                    outcome.rejected += 1
                case .message(.deviceMetadata(let metadata)):
                    if try holdsMetadataChange(metadata) {
                        outcome.siteMessages += 1
                        continue
                    }
                    try writeMetadata(metadata)
                    if metadata.payload != nil { announced.insert(SiteDevice(site: metadata.site, device: metadata.device)) }
                    outcome.siteMessages += 1
                case .message(.specDocument(let spec)):
                    try writeSpecDocument(spec)
                    outcome.siteMessages += 1
                case .message(.records): break
                }
            }
            records = try admission.release(announced, on: connection) + records
            let admitted = try admission.admit(records, on: connection)
            outcome.held = admitted.held
            // Every record's hash recomputed before it is stored: what does not match is set aside.
            let proof = RecordProof(admitted.accepted)
            try record(proof)
            // Checkpoints first: one signed under a new epoch confirms the message that carries it.
            try recordCheckpoints(proof.kept)
            records = try screenSequenceJumps(try holdUnconfirmedEpochs(proof.kept))
            guard !records.isEmpty else { return }
            try recordEpochs(records)
            // Row locks in one order, so two instances never wait on each other in a circle.
            let keys = Set(records.map { StreamKey(site: $0.site, epoch: $0.epoch, stream: $0.stream) }).sorted()
            var progress = try lockStreams(keys, records: records)

            try stage(records)
            // Every number sent is stored once this commits (inserted now, or before as the copy
            // a duplicate was compared with), so the stream's progress advances by what was sent.
            var arrived: [StreamKey: [ClosedRange<Int64>]] = [:]
            for message in records {
                arrived[StreamKey(site: message.site, epoch: message.epoch, stream: message.stream), default: []]
                    .append(message.seqFirst...message.seqLast)
            }
            var insertedByStream: [StreamKey: Int] = [:]
            var newestTime: [StreamKey: String] = [:]
            for kind in Set(records.map(\.kind)) {
                let result = try connection.execute(Self.insertStatement(kind), [kind.rawValue])
                for row in 0..<result.rowCount {
                    let key = StreamKey(site: result.string(row, 0)!, epoch: result.string(row, 1)!, stream: result.string(row, 2)!)
                    let count = Int(result.int(row, 3)!)
                    insertedByStream[key, default: 0] += count
                    outcome.inserted += count
                    if let time = result.string(row, 4), time > (newestTime[key] ?? "") { newestTime[key] = time }
                }
            }

            // What was sent but not inserted is a duplicate: check that it is the same record.
            var duplicatesByStream: [StreamKey: Int] = [:]
            for message in records {
                let key = StreamKey(site: message.site, epoch: message.epoch, stream: message.stream)
                duplicatesByStream[key, default: 0] += message.records.count
            }
            for (key, count) in insertedByStream { duplicatesByStream[key, default: 0] -= count }
            outcome.duplicates = duplicatesByStream.values.reduce(0, +)
            if outcome.duplicates > 0 {
                let kinds = Set(records.filter { duplicatesByStream[StreamKey(site: $0.site, epoch: $0.epoch, stream: $0.stream), default: 0] > 0 }.map(\.kind))
                for kind in kinds { outcome.conflicts += try recordConflicts(kind) }
            }
            for kind in Set(records.filter(\.carriesChain).map(\.kind)) { try verifyChain(kind) }
            try checkMissingHashes(keys, kinds: Set(records.map(\.kind)))

            for key in keys {
                var stream = progress[key] ?? StreamProgress()
                let change = stream.apply(arrived: (arrived[key] ?? []).mergedRuns(), at: now)
                progress[key] = stream
                outcome.gapsOpened += change.opened.count
                try saveProgress(key, stream, change: change, inserted: insertedByStream[key] ?? 0,
                                 duplicates: max(0, duplicatesByStream[key] ?? 0), newestTime: newestTime[key], now: now)
            }
            // Only that the site exists: its last record times are its streams', so writers of
            // different streams never wait on one site row.
            for site in Set(keys.map(\.site)).sorted() {
                try connection.execute("INSERT INTO sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING", [site])
            }
        }
        return outcome
    }

    /// Stages telemetry samples column by column and other records whole, each with one COPY.
    private func stage(_ records: [RecordMessage]) throws {
        var samples = CopyTextWriter(capacity: records.reduce(0) { $0 + $1.samples.count * 320 })
        var others = CopyTextWriter(capacity: 1 << 16)
        for message in records {
            if message.kind == .sample {
                for sample in message.samples {
                    samples.field(message.site)
                    samples.field(message.epoch)
                    samples.field(message.stream)
                    samples.field(message.device)
                    samples.field(String(sample.seq))
                    samples.field(sample.time)
                    samples.field(sample.cycle.map { String($0) })
                    samples.field(sample.batch)
                    samples.field(sample.phase)
                    samples.field(sample.spec)
                    samples.field(bytes: sample.values)
                    if let quality = sample.quality { samples.field(bytes: quality) } else { samples.field(nil) }
                    samples.field(sample.hash)
                    samples.field(sample.previousHash)
                    samples.field(sample.timeNanoseconds.map { String($0) })
                    if let raw = sample.raw { samples.field(bytes: raw) } else { samples.field(nil) }
                    samples.endRow()
                }
            } else {
                for record in message.records {
                    others.field(message.kind.rawValue)
                    others.field(message.site)
                    others.field(message.epoch)
                    others.field(message.stream)
                    others.field(message.device)
                    others.field(bytes: record)
                    others.field(message.kind == .event ? Self.recomputedBody(record) : nil)
                    others.endRow()
                }
            }
        }
        if samples.rowCount > 0 {
            try connection.copy("""
                COPY staged_samples (site, epoch, stream, device, seq, time, cycle, batch, phase, spec, "values", quality,
                                     hash, previous_hash, time_ns, raw) FROM STDIN
                """, data: samples.bytes)
        }
        if others.rowCount > 0 {
            try connection.copy("COPY staged_records (kind, site, epoch, stream, device, record, body) FROM STDIN", data: others.bytes)
        }
    }

    /// An event's body exactly as sent, kept so its hash can be recomputed later (`verify`,
    /// `batch export`); nil for an event whose hash cannot be recomputed.
    static func recomputedBody(_ record: ArraySlice<UInt8>) -> String? {
        guard let fields = try? JSONFields(record), WireRecordHash.event(fields) == .verified, let body = fields.raw("event") else {
            return nil  // not recomputable: stored without a body, and counted as such by RecordProof
        }
        return RecordChain.eventBody(wire: body)
    }

    /// Inserts the staged records of one kind, keeps batch runs current, and returns how many
    /// were inserted per stream (site, epoch, stream, count, newest time).
    static func insertStatement(_ kind: RecordKind) -> String {
        let insert: String
        switch kind {
        case .sample:
            insert = """
                inserted AS (
                    INSERT INTO samples (site, epoch, stream, seq, device, time, cycle, batch, phase, spec, "values", quality,
                                         hash, previous_hash, time_ns, raw)
                    SELECT site, epoch, stream, seq, device, time, cycle, batch, phase, spec, "values", quality, hash, previous_hash,
                           time_ns, raw
                    FROM staged_samples WHERE $1 = 'sample'
                    ON CONFLICT DO NOTHING
                    RETURNING site, epoch, stream, seq, device, time, batch, phase, spec),
                runs AS (
                    INSERT INTO batch_runs (site, device, batch, spec, phase, epoch, stream, first_time, last_time,
                                            first_seq, last_seq, samples)
                    SELECT site, device, batch, coalesce(spec, ''), coalesce(phase, ''), epoch, stream, min(time), max(time),
                           min(seq), max(seq), count(*)
                    FROM inserted WHERE batch IS NOT NULL
                    GROUP BY site, device, batch, coalesce(spec, ''), coalesce(phase, ''), epoch, stream
                    ON CONFLICT (site, device, batch, spec, phase, epoch, stream) DO UPDATE SET
                        first_time = least(batch_runs.first_time, excluded.first_time),
                        last_time = greatest(batch_runs.last_time, excluded.last_time),
                        first_seq = least(batch_runs.first_seq, excluded.first_seq),
                        last_seq = greatest(batch_runs.last_seq, excluded.last_seq),
                        samples = batch_runs.samples + excluded.samples)
                """
        case .event:
            insert = """
                inserted AS (
                    INSERT INTO events (site, epoch, stream, seq, device, time, kind, batch, phase, spec, record, hash, previous_hash,
                                        body)
                    SELECT site, epoch, stream, (record->>'seq')::bigint, device, (record->>'time')::timestamptz,
                           coalesce(record->>'kind', ''), record->>'batch', record->>'phase', record->>'spec', record,
                           record->>'hash', record->>'previous_hash', body
                    FROM staged_records WHERE kind = $1
                    ON CONFLICT DO NOTHING
                    RETURNING site, epoch, stream, seq, time)
                """
        case .audit:
            insert = """
                inserted AS (
                    INSERT INTO audit_entries (site, epoch, stream, seq, time, user_name, action, target, record, hash, previous_hash)
                    SELECT site, epoch, stream, (record->>'seq')::bigint, (record->>'time')::timestamptz,
                           record->>'user', record->>'action', record->>'target', record, record->>'hash', record->>'previous_hash'
                    FROM staged_records WHERE kind = $1
                    ON CONFLICT DO NOTHING
                    RETURNING site, epoch, stream, seq, time)
                """
        }
        return """
            WITH \(insert)
            SELECT site, epoch, stream, count(*), max(time) FROM inserted GROUP BY site, epoch, stream
            """
    }

    /// True when a stored record differs from a staged copy `st` of it.
    static func differs(_ kind: RecordKind) -> String {
        switch kind {
        case .sample:
            """
            (s.time, s.cycle, s.batch, s.phase, s.spec, s."values"::jsonb, s.quality::jsonb, s.hash, s.previous_hash)
            IS DISTINCT FROM
            (st.time, st.cycle, st.batch, st.phase, st.spec, st."values"::jsonb, st.quality::jsonb, st.hash, st.previous_hash)
            """
        case .event, .audit: "s.record <> st.record"
        }
    }

    /// Where a kind is staged, and the staged copy's number and text for messages.
    static func staged(_ kind: RecordKind) -> (table: String, seq: String, text: String, filter: String) {
        switch kind {
        case .sample: ("staged_samples", "st.seq", "st.\"values\"::text", "$1 = 'sample'")
        case .event, .audit: ("staged_records", "(st.record->>'seq')::bigint", "st.record::text", "st.kind = $1")
        }
    }

    static func table(_ kind: RecordKind) -> String {
        switch kind {
        case .sample: "samples"
        case .event: "events"
        case .audit: "audit_entries"
        }
    }

    /// Staged copies that were not inserted and differ from what is stored: integrity alarms.
    private func recordConflicts(_ kind: RecordKind) throws -> Int {
        let table = Self.table(kind)
        let staged = Self.staged(kind)
        let result = try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            SELECT 'conflicting_duplicate', s.site, s.epoch, s.stream, s.seq, s.seq,
                   'a second copy of record ' || s.seq || ' differs from the stored one: ' || left(\(staged.text), 400)
            FROM \(staged.table) st
            JOIN \(table) s ON s.site = st.site AND s.epoch = st.epoch AND s.stream = st.stream AND s.seq = \(staged.seq)
            WHERE \(staged.filter) AND \(Self.differs(kind))
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now()
            RETURNING site, stream, seq_from
            """, [kind.rawValue])
        if result.rowCount > 0 { try keepDisputedVersions(kind) }
        for row in 0..<result.rowCount {
            logger.error("a duplicate differs from the stored record", metadata: [
                "site": "\(result.string(row, 0)!)", "stream": "\(result.string(row, 1)!)", "seq": "\(result.string(row, 2)!)",
            ])
        }
        return result.rowCount
    }

    /// Where records carry `hash` and `previous_hash`, each must name its predecessor's hash. A
    /// null on either end (a record from before the chain, a predecessor the site pruned) is not
    /// checked, as the contract says.
    private func verifyChain(_ kind: RecordKind) throws {
        let table = Self.table(kind)
        let staged = Self.staged(kind)
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
            SELECT 'chain_break', r.site, r.epoch, r.stream, p.seq, r.seq,
                   'record ' || r.seq || ' names previous hash ' || coalesce(r.previous_hash, 'none')
                   || ' but record ' || p.seq || ' has hash ' || coalesce(p.hash, 'none')
            FROM \(table) r
            JOIN \(table) p ON p.site = r.site AND p.epoch = r.epoch AND p.stream = r.stream AND p.seq = r.seq - 1
            WHERE r.previous_hash IS NOT NULL AND p.hash IS NOT NULL
              AND r.previous_hash <> p.hash
              AND EXISTS (SELECT 1 FROM \(staged.table) st
                          WHERE \(staged.filter) AND st.site = r.site AND st.epoch = r.epoch AND st.stream = r.stream
                            AND \(staged.seq) IN (r.seq, p.seq))
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
            """, [kind.rawValue])
    }

    private func lockStreams(_ keys: [StreamKey], records: [RecordMessage]) throws -> [StreamKey: StreamProgress] {
        var progress: [StreamKey: StreamProgress] = [:]
        for key in keys {
            let message = records.first { $0.site == key.site && $0.epoch == key.epoch && $0.stream == key.stream }!
            try connection.execute("""
                INSERT INTO streams (site, epoch, stream, device, kind) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (site, epoch, stream) DO NOTHING
                """, [key.site, key.epoch, key.stream, message.device, message.kind.rawValue])
            let row = try connection.execute(
                "SELECT contiguous, highest FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3 FOR UPDATE",
                [key.site, key.epoch, key.stream])
            var stream = StreamProgress(contiguous: row.int(0, 0) ?? 0, highest: row.int(0, 1) ?? 0)
            if stream.contiguous < stream.highest {
                let gaps = try connection.execute("""
                    SELECT seq_from, seq_to, extract(epoch FROM opened) FROM gaps
                    WHERE site = $1 AND epoch = $2 AND stream = $3 ORDER BY seq_from
                    """, [key.site, key.epoch, key.stream])
                stream.gaps = (0..<gaps.rowCount).map {
                    StreamProgress.Gap(gaps.int($0, 0)!...gaps.int($0, 1)!, openedAt: Date(timeIntervalSince1970: gaps.double($0, 2)!))
                }
            }
            progress[key] = stream
        }
        return progress
    }

    private func saveProgress(
        _ key: StreamKey, _ stream: StreamProgress, change: StreamProgress.Change, inserted: Int, duplicates: Int,
        newestTime: String?, now: Date
    ) throws {
        let k = [key.site, key.epoch, key.stream]
        try connection.execute("""
            UPDATE streams SET contiguous = $4, highest = $5, records = records + $6, duplicates = duplicates + $7,
                last_received = now(), last_record_time = greatest(last_record_time, $8::timestamptz)
            WHERE site = $1 AND epoch = $2 AND stream = $3
            """, k + [String(stream.contiguous), String(stream.highest), String(inserted), String(duplicates), newestTime])
        guard !change.opened.isEmpty || !change.filled.isEmpty else { return }
        try connection.execute("DELETE FROM gaps WHERE site = $1 AND epoch = $2 AND stream = $3", k)
        for gap in stream.gaps {
            try connection.execute(
                "INSERT INTO gaps (site, epoch, stream, seq_from, seq_to, opened) VALUES ($1, $2, $3, $4, $5, to_timestamp($6))",
                k + [String(gap.range.lowerBound), String(gap.range.upperBound), String(gap.openedAt.timeIntervalSince1970)])
        }
        for range in change.opened {
            logger.warning("gap in a stream", metadata: [
                "site": "\(key.site)", "stream": "\(key.stream)", "missing": "\(range.lowerBound)...\(range.upperBound)",
            ])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                VALUES ('gap', $1, $2, $3, $4, $5, $6)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                """, k + [String(range.lowerBound), String(range.upperBound),
                          "records \(range.lowerBound)...\(range.upperBound) missing (a later record arrived first)"])
        }
        // A gap finding is resolved once none of its numbers is missing any more.
        try connection.execute("""
            UPDATE integrity_findings f SET resolved = now()
            WHERE f.kind = 'gap' AND f.resolved IS NULL AND f.site = $1 AND f.epoch = $2 AND f.stream = $3
              AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.site = f.site AND g.epoch = f.epoch AND g.stream = f.stream
                              AND g.seq_from <= f.seq_to AND g.seq_to >= f.seq_from)
            """, k)
    }

    /// A record stating a store epoch other than the one last seen for its site: the site's
    /// store was replaced, and its numbers start again.
    private func recordEpochs(_ records: [RecordMessage]) throws {
        for (site, epoch) in Set(records.filter { !$0.epoch.isEmpty }.map { SiteEpoch(site: $0.site, epoch: $0.epoch) }).map({ ($0.site, $0.epoch) }) {
            let found = try connection.execute("SELECT epoch FROM sites WHERE site = $1 FOR UPDATE", [site])
            let previous = found.rowCount > 0 ? found.string(0, 0) : nil
            guard previous != epoch else { continue }
            try connection.execute("""
                INSERT INTO sites (site, epoch) VALUES ($1, $2) ON CONFLICT (site) DO UPDATE SET epoch = excluded.epoch
                """, [site, epoch])
            guard let previous, !previous.isEmpty else { continue }
            logger.warning("site store epoch changed", metadata: ["site": "\(site)", "from": "\(previous)", "to": "\(epoch)"])
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, detail) VALUES ('epoch_change', $1, $2, $3)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                """, [site, epoch, "store epoch changed from \(previous) to \(epoch): the site's store was replaced"])
        }
    }

    /// Writes the status; returns the devices an online birth names.
    private func writeStatus(_ status: SiteStatusMessage) throws -> [String] {
        let payload = String(decoding: status.payload, as: UTF8.self)
        try connection.execute("""
            INSERT INTO sites (site, state, version, status, status_time, status_received)
            VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz, now())
            ON CONFLICT (site) DO UPDATE SET state = excluded.state,
                version = coalesce(excluded.version, sites.version),
                status = CASE WHEN excluded.state = 'online' THEN excluded.status ELSE sites.status END,
                status_time = coalesce(excluded.status_time, sites.status_time),
                status_received = now()
            """, [status.site, status.state, status.version, payload, status.time])
        guard status.state == "online" else { return [] }
        let named = try connection.execute("""
            INSERT INTO site_devices (site, device, profile, batch, phase, spec, reachable, updated)
            SELECT $1, d.id, d.profile, d.batch, d.phase, d.spec, d.reachable, now()
            FROM jsonb_to_recordset(coalesce($2::jsonb->'devices', '[]'))
                 AS d(id text, profile text, batch text, phase text, spec text, reachable boolean)
            WHERE d.id IS NOT NULL
            ON CONFLICT (site, device) DO UPDATE SET profile = excluded.profile, batch = excluded.batch,
                phase = excluded.phase, spec = excluded.spec, reachable = excluded.reachable, updated = now()
            RETURNING device
            """, [status.site, payload])
        return (0..<named.rowCount).compactMap { named.string($0, 0) }
    }

    /// Keeps the device's metadata as published; one whose bytes do not hash to the fingerprint
    /// it names is kept too (what the site sent is evidence) and is an integrity finding.
    private func writeMetadata(_ m: DeviceMetadataMessage) throws {
        // The site's row lock, which a writer holding records aside waits for (`IngestAdmission`).
        try connection.execute("INSERT INTO sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING", [m.site])
        try connection.execute("SELECT 1 FROM sites WHERE site = $1 FOR UPDATE", [m.site])
        try connection.execute("""
            INSERT INTO device_metadata (site, device, fingerprint, verified, metadata, received)
            VALUES ($1, $2, $3, $4::boolean, $5::jsonb, now())
            ON CONFLICT (site, device) DO UPDATE SET fingerprint = excluded.fingerprint, verified = excluded.verified,
                metadata = excluded.metadata, received = now()
            """, [m.site, m.device, m.fingerprint, m.payload == nil || m.verified ? "true" : "false",
                  m.payload.map { String(decoding: $0, as: UTF8.self) }])
        if m.payload != nil && !m.verified {
            try recordFinding("metadata_mismatch", site: m.site, stream: "\(m.device)/meta",
                              detail: "metadata names \(m.fingerprint ?? "-") but its bytes hash to \(m.computed ?? "-")")
        }
    }

    /// Keeps a published spec; a canonical form that does not hash to the fingerprint it is
    /// published under is kept and shown by `conformance`.
    private func writeSpecDocument(_ spec: SpecDocumentMessage) throws {
        try connection.execute("""
            INSERT INTO published_specs (site, fingerprint, computed, verified, document, received)
            VALUES ($1, $2, $3, $4::boolean, $5::jsonb, now())
            ON CONFLICT (site, fingerprint) DO UPDATE SET computed = excluded.computed, verified = excluded.verified,
                document = excluded.document, received = now()
            """, [spec.site, spec.fingerprint, spec.computed, spec.verified ? "true" : "false",
                  String(decoding: spec.payload, as: UTF8.self)])
    }

    private func recordFinding(_ kind: String, site: String, stream: String, detail: String) throws {
        try connection.execute("""
            INSERT INTO integrity_findings (kind, site, stream, detail) VALUES ($1, $2, $3, $4)
            ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail
            """, [kind, site, stream, detail])
    }
}

struct StreamKey: Hashable, Comparable, Sendable {
    var site: String
    var epoch: String
    var stream: String
    static func < (a: StreamKey, b: StreamKey) -> Bool { (a.site, a.epoch, a.stream) < (b.site, b.epoch, b.stream) }
}

struct SiteEpoch: Hashable { var site: String; var epoch: String }
