import POCareContract

/// Telemetry numbered beyond everything its stream has received goes straight into `samples`
/// with one COPY. The stream's progress row, locked by this transaction, says which numbers have
/// arrived, so such samples cannot be copies of stored ones: they need neither staging nor the
/// insert's duplicate check, which is most of what ingest costs beyond the database's own
/// writing (docs/control-site.md, "Benchmark"). Everything else (replays into gaps, resends,
/// events, audit entries) takes the staged path, which lets the database decide what is new.
extension IngestWriter {
    /// The sample messages that go straight in, and the others. A message goes straight in when
    /// its numbers lie beyond the stream's highest received number and beyond every earlier
    /// message of this transaction, and every sample's time has the site's own form (so times
    /// compare as text).
    func freshSamples(_ records: [RecordMessage], progress: [StreamKey: StreamProgress]) -> (fresh: [RecordMessage], other: [RecordMessage]) {
        var reach: [StreamKey: Int64] = [:]
        var fresh: [RecordMessage] = [], other: [RecordMessage] = []
        for message in records {
            let key = message.streamKey
            let limit = reach[key] ?? progress[key]?.highest ?? 0
            if message.kind == .sample, message.seqFirst > limit, message.samples.count == message.records.count,
               message.samples.allSatisfy({ Self.hasSiteTimeForm($0.time) }) {
                fresh.append(message)
            } else {
                other.append(message)
            }
            reach[key] = max(limit, message.seqLast)
        }
        return (fresh, other)
    }

    /// `YYYY-MM-DDTHH:MM:SS.fffZ`, the form a site writes: fixed width, so text order is time order.
    static func hasSiteTimeForm(_ time: String) -> Bool {
        let bytes = time.utf8
        guard bytes.count == 24 else { return false }
        let start = bytes.startIndex
        return bytes[bytes.index(start, offsetBy: 10)] == UInt8(ascii: "T") && bytes[bytes.index(start, offsetBy: 19)] == UInt8(ascii: ".")
            && bytes[bytes.index(start, offsetBy: 23)] == UInt8(ascii: "Z")
    }

    /// Copies `fresh` into `samples` and keeps their batch runs current; returns what was stored.
    /// Should a record beyond a stream's progress be stored after all (by a path that did not
    /// advance the progress), nil is returned and the caller stages those messages like any
    /// others. That is looked up by number first: the primary key also holds the time (the month
    /// partitions need it), so a stored row of the same number at another time would not stop the
    /// copy. The copy runs inside a savepoint as well, for a row stored at the same time.
    func copyFresh(_ fresh: [RecordMessage]) throws -> Inserted? {
        var inserted = Inserted()
        guard !fresh.isEmpty else { return inserted }
        var lowest: [StreamKey: Int64] = [:]
        for message in fresh { lowest[message.streamKey] = min(lowest[message.streamKey] ?? .max, message.seqFirst) }
        for (key, first) in lowest.sorted(by: { $0.key < $1.key }) {
            let stored = try connection.execute(
                "SELECT 1 FROM samples WHERE site = $1 AND epoch = $2 AND stream = $3 AND seq >= $4 LIMIT 1",
                [key.site, key.epoch, key.stream, String(first)])
            if stored.rowCount > 0 {
                logger.warning("samples beyond a stream's progress were stored already; staged instead", metadata: [
                    "site": "\(key.site)", "stream": "\(key.stream)", "seq": "\(first)",
                ])
                return nil
            }
        }
        try connection.execute("SAVEPOINT fresh_samples")
        let failure: PostgresError?
        do {
            try connection.copy("COPY samples (\(Self.sampleColumns)) FROM STDIN", pieces: Self.sampleRowPieces(fresh))
            failure = nil
        } catch let error as PostgresError {
            failure = error
        }
        if let failure {
            // 23505, unique_violation: a row is stored already. Anything else is the caller's to retry.
            guard failure.sqlState == "23505" else { throw failure }
            try connection.execute("ROLLBACK TO SAVEPOINT fresh_samples")
            logger.warning("samples beyond a stream's progress were stored already; staged instead", metadata: ["error": "\(failure)"])
            return nil
        }
        try connection.execute("RELEASE SAVEPOINT fresh_samples")
        var runs: [BatchRunKey: BatchRunSpan] = [:]
        func keep(_ run: BatchRunKey, _ span: BatchRunSpan) {
            if runs[run] == nil { runs[run] = span } else { runs[run]!.merge(span) }
        }
        for message in fresh {
            let key = message.streamKey
            inserted.byStream[key, default: 0] += message.samples.count
            inserted.total += message.samples.count
            var newest = inserted.newestSent[key] ?? ""
            // Consecutive samples mostly share batch, spec and phase: the run in hand is put in
            // the dictionary when they change, not hashed (seven strings) for every sample.
            var inHand: (run: BatchRunKey, span: BatchRunSpan)?
            for sample in message.samples {
                let time = sample.time
                if time > newest { newest = time }
                guard let batch = sample.batch else { continue }
                let spec = sample.spec ?? "", phase = sample.phase ?? ""
                if let run = inHand?.run, run.batch == batch, run.spec == spec, run.phase == phase {
                    inHand!.span.include(time, sample.seq)
                    continue
                }
                if let (run, span) = inHand { keep(run, span) }
                inHand = (BatchRunKey(site: message.site, device: message.device ?? "", batch: batch, spec: spec, phase: phase,
                                      epoch: message.epoch, stream: message.stream), BatchRunSpan(sample))
                inHand!.span.include(time, sample.seq)
            }
            if let (run, span) = inHand { keep(run, span) }
            if !newest.isEmpty { inserted.newestSent[key] = newest }
        }
        for (run, span) in runs.sorted(by: { $0.key < $1.key }) { try extendBatchRun(run, span) }
        return inserted
    }

    /// The same upsert the staged insert makes of what it inserted (`insertStatement`).
    private func extendBatchRun(_ run: BatchRunKey, _ span: BatchRunSpan) throws {
        try connection.execute("""
            INSERT INTO batch_runs (site, device, batch, spec, phase, epoch, stream, first_time, last_time, first_seq, last_seq, samples)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10::bigint, $11::bigint, $12::bigint)
            ON CONFLICT (site, device, batch, spec, phase, epoch, stream) DO UPDATE SET
                first_time = least(batch_runs.first_time, excluded.first_time),
                last_time = greatest(batch_runs.last_time, excluded.last_time),
                first_seq = least(batch_runs.first_seq, excluded.first_seq),
                last_seq = greatest(batch_runs.last_seq, excluded.last_seq),
                samples = batch_runs.samples + excluded.samples
            """, [run.site, run.device, run.batch, run.spec, run.phase, run.epoch, run.stream, span.firstTime, span.lastTime,
                  String(span.firstSeq), String(span.lastSeq), String(span.samples)])
    }

    /// Of fresh samples, what `checkMissingHashes` checks of staged ones: a stream's lowest hashed
    /// number, lowered by these samples, and every sample without a hash above it.
    func checkMissingHashes(fresh: [RecordMessage]) throws {
        // Per stream, the lowest hashed number and the numbers without a hash, gathered in one pass.
        var byStream: [StreamKey: (lowestHashed: Int64?, unhashed: [Int64])] = [:]
        for message in fresh {
            let key = message.streamKey
            var stream = byStream.removeValue(forKey: key) ?? (nil, [])
            for sample in message.samples {
                if sample.hash != nil { stream.lowestHashed = min(stream.lowestHashed ?? .max, sample.seq) } else { stream.unhashed.append(sample.seq) }
            }
            byStream[key] = stream
        }
        for (key, stream) in byStream.sorted(by: { $0.key < $1.key }) {
            if let lowest = stream.lowestHashed { try lowerFirstHashed(key, to: lowest, kind: .sample) }
            let unhashed = stream.unhashed
            guard !unhashed.isEmpty else { continue }
            let row = try connection.execute(
                "SELECT first_hashed FROM streams WHERE site = $1 AND epoch = $2 AND stream = $3", [key.site, key.epoch, key.stream])
            guard let first = row.rowCount > 0 ? row.int(0, "first_hashed") : nil else { continue }
            for seq in unhashed where seq > first {
                try connection.execute("""
                    INSERT INTO integrity_findings (kind, site, epoch, stream, seq_from, seq_to, detail)
                    VALUES ('chain_break', $1, $2, $3, $4::bigint, $4::bigint, $5)
                    ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO NOTHING
                    """, [key.site, key.epoch, key.stream, String(seq),
                          "record \(seq) carries no hash on a stream whose records carry hashes (from record \(first) on)"])
            }
        }
    }
}

/// A batch run's key in `batch_runs`.
struct BatchRunKey: Hashable, Comparable {
    var site, device, batch, spec, phase, epoch, stream: String
    static func < (a: BatchRunKey, b: BatchRunKey) -> Bool {
        (a.site, a.device, a.batch, a.spec, a.phase, a.epoch + "\u{0}" + a.stream) < (b.site, b.device, b.batch, b.spec, b.phase, b.epoch + "\u{0}" + b.stream)
    }
}

/// What fresh samples add to a batch run: their first and last time and number, and how many.
struct BatchRunSpan {
    var firstTime, lastTime: String
    var firstSeq, lastSeq: Int64
    var samples = 0

    init(_ sample: SampleFields) {
        firstTime = sample.time
        lastTime = sample.time
        firstSeq = sample.seq
        lastSeq = sample.seq
    }

    /// Another span of the same run.
    mutating func merge(_ other: BatchRunSpan) {
        firstTime = min(firstTime, other.firstTime)
        lastTime = max(lastTime, other.lastTime)
        firstSeq = min(firstSeq, other.firstSeq)
        lastSeq = max(lastSeq, other.lastSeq)
        samples += other.samples
    }

    /// One more sample, at `time` with number `seq`.
    mutating func include(_ time: String, _ seq: Int64) {
        if time < firstTime { firstTime = time }
        if time > lastTime { lastTime = time }
        firstSeq = min(firstSeq, seq)
        lastSeq = max(lastSeq, seq)
        samples += 1
    }
}
