import POCareContract

/// How records reach their tables: staged with one COPY per transaction, then inserted per
/// kind with `ON CONFLICT DO NOTHING`, so the database decides what is new.
extension IngestWriter {
    /// The columns a sample is staged with, which are also those of `samples`.
    public static let sampleColumns = """
        site, epoch, stream, device, seq, time, cycle, batch, phase, spec, "values", quality, hash, previous_hash, time_ns, raw
        """

    /// The samples of `records` as COPY text rows of `sampleColumns`.
    public static func sampleRows(_ records: [RecordMessage]) -> CopyTextWriter {
        var rows = CopyTextWriter(capacity: records.reduce(0) { $0 + $1.samples.count * 320 })
        for message in records { appendSampleRows(message, to: &rows) }
        return rows
    }

    /// `records`' sample rows in pieces of about `pieceBytes` each, for `PostgresConnection.copy(_:pieces:)`:
    /// a transaction's rows are tens of megabytes, and a buffer that size is new memory (page
    /// faults) every time, where a piece this size is reused and stays in the cache.
    static func sampleRowPieces(_ records: [RecordMessage], pieceBytes: Int = 1 << 17) -> () -> [UInt8]? {
        var next = records.startIndex
        return {
            var rows = CopyTextWriter(capacity: pieceBytes * 2)
            while next < records.endIndex && rows.bytes.count < pieceBytes {
                appendSampleRows(records[next], to: &rows)
                next += 1
            }
            return rows.rowCount == 0 && next == records.endIndex ? nil : rows.bytes
        }
    }

    /// The rows of one message's samples (none for other kinds), columns as `sampleColumns`.
    static func appendSampleRows(_ message: RecordMessage, to rows: inout CopyTextWriter) {
        guard message.kind == .sample else { return }
        var shared = CopyTextWriter(capacity: 256)
        shared.field(message.site)
        shared.field(message.epoch)
        shared.field(message.stream)
        shared.field(message.device)
        for sample in message.samples {
            rows.fields(written: shared, columns: 4)
            rows.field(integer: sample.seq)
            rows.field(sample.time)
            rows.field(integer: sample.cycle)
            rows.field(sample.batch)
            rows.field(sample.phase)
            rows.field(sample.spec)
            rows.field(bytes: sample.values)
            if let quality = sample.quality { rows.field(bytes: quality) } else { rows.field(nil) }
            rows.field(sample.hash)
            rows.field(sample.previousHash)
            rows.field(integer: sample.timeNanoseconds)
            if let raw = sample.raw { rows.field(bytes: raw) } else { rows.field(nil) }
            rows.endRow()
        }
    }

    /// Stages telemetry samples column by column and other records whole, each with one COPY.
    func stage(_ records: [RecordMessage]) throws {
        let samples = Self.sampleRows(records)
        var others = CopyTextWriter(capacity: 1 << 16)
        for message in records where message.kind != .sample {
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
        if samples.rowCount > 0 {
            try connection.copy("COPY staged_samples (\(Self.sampleColumns)) FROM STDIN", data: samples.bytes)
        }
        if others.rowCount > 0 {
            try connection.copy("COPY staged_records (kind, site, epoch, stream, device, record, body) FROM STDIN", data: others.bytes)
        }
    }

    /// An event's body exactly as sent, kept so its hash can be recomputed later (`verify`,
    /// `batch export`); nil for an event whose hash cannot be recomputed.
    static func recomputedBody(_ record: ArraySlice<UInt8>) -> String? {
        // Not recomputable (unreadable, or a hash that does not match): stored without a body, and
        // counted as such by RecordProof.
        guard let fields = try? JSONFields(record), WireRecordHash.event(fields) == .verified, let body = fields.raw("event") else {
            return nil
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
                    -- One record per number, by number and not by the key's time: the first copy
                    -- staged of a number not stored in any month's partition (the stream is locked).
                    SELECT DISTINCT ON (site, epoch, stream, seq)
                           site, epoch, stream, seq, device, time, cycle, batch, phase, spec, "values", quality, hash, previous_hash,
                           time_ns, raw
                    FROM staged_samples st WHERE $1 = 'sample'
                        AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.site = st.site AND s.epoch = st.epoch
                                                                  AND s.stream = st.stream AND s.seq = st.seq)
                    ORDER BY site, epoch, stream, seq, st.ctid
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
            SELECT site, epoch, stream, count(*) AS inserted, max(time) AS newest FROM inserted GROUP BY site, epoch, stream
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

    /// How many records an insert stored, per stream, and the newest time among them: as the
    /// database writes times (the staged insert) and as the site does (fresh samples). Each form
    /// compares as text only with itself; `saveProgress` compares them as times.
    struct Inserted {
        var byStream: [StreamKey: Int] = [:]
        var newestTime: [StreamKey: String] = [:]
        var newestSent: [StreamKey: String] = [:]
        var total = 0

        mutating func add(_ other: Inserted) {
            for (key, count) in other.byStream { byStream[key, default: 0] += count }
            for (key, time) in other.newestTime where time > (newestTime[key] ?? "") { newestTime[key] = time }
            for (key, time) in other.newestSent where time > (newestSent[key] ?? "") { newestSent[key] = time }
            total += other.total
        }
    }

    /// Inserts what is staged, kind by kind, and counts what was new.
    func insertStaged(kinds: Set<RecordKind>) throws -> Inserted {
        var inserted = Inserted()
        for kind in kinds {
            let result = try connection.execute(Self.insertStatement(kind), [kind.rawValue])
            for row in result.map({ $0 }) {
                guard let site = row.string("site"), let epoch = row.string("epoch"), let stream = row.string("stream"),
                      let count = row.int("inserted") else { continue }  // never null: the statement groups by them
                let key = StreamKey(site: site, epoch: epoch, stream: stream)
                inserted.byStream[key, default: 0] += Int(count)
                inserted.total += Int(count)
                if let time = row.string("newest"), time > (inserted.newestTime[key] ?? "") { inserted.newestTime[key] = time }
            }
        }
        return inserted
    }
}
