import POCareContract

/// Reads one run of a batch's samples in sequence order with the parameters asked for taken
/// out of each (`StoredSampleValues`), for the statistics and the state strips of a batch.
///
/// What a page costs is bounded whatever the samples hold: a sample whose `values` or
/// `quality` is larger than `maxSampleBytes` is counted, not read; an ordinary sample comes in
/// chunks of rows with its JSON inline (at most `inlineBytes` each, so the two chunks in memory
/// at once stay within 64 MiB); a larger one, up to `maxSampleBytes` (a device of hundreds of parameters, or a
/// forged sample as large as a message allows), is read on its own by its key.
struct StoredSampleReader {
    struct Run {
        var site: String
        var epoch: String
        var stream: String
        var seqs: ClosedRange<Int64>
        var batch: String
    }

    static let inlineBytes = 16 * 1024
    let values: StoredSampleValues
    let maxSampleBytes: Int
    let rowsPerFetch: Int

    init(parameters: [String], maxSampleBytes: Int, rowsPerFetch: Int) {
        values = StoredSampleValues(parameters: parameters)
        // No stored sample is larger than a telemetry message: a larger limit reads nothing more.
        self.maxSampleBytes = max(1, min(maxSampleBytes, ContractLimits.telemetryMessageBytes))
        // Two chunks are in memory at once (the next is fetched while one is read): 64 MiB together.
        self.rowsPerFetch = max(16, min(rowsPerFetch, (64 << 20) / (4 * Self.inlineBytes)))
    }

    /// Each sample of the run: its time, phase, whether it was too large to read, and the
    /// parameters' values coded as `StoredSampleValues` codes them (all nil when too large).
    func forEachSample(
        of run: Run, on connection: PostgresConnection, checkpoint: () throws -> Void,
        _ body: (_ time: Double, _ phase: String?, _ oversized: Bool, _ coded: [String?]) throws -> Void
    ) throws {
        let nothing = [String?](repeating: nil, count: values.parameters.count)
        let key = [run.site, run.epoch, run.stream]
        try connection.forEachChunk(Self.query, key + [String(run.seqs.lowerBound), String(run.seqs.upperBound), run.batch,
                                                       String(maxSampleBytes), String(Self.inlineBytes)],
                                    chunk: rowsPerFetch, checkpoint: checkpoint) { rows in
            // The columns found by name once a chunk, not once a value: a batch has millions of values.
            let seqColumn = rows.column("seq"), timeColumn = rows.column("time_s"), phaseColumn = rows.column("phase")
            let oversizedColumn = rows.column("oversized"), valuesColumn = rows.column("values_text"), qualityColumn = rows.column("quality_text")
            for r in 0..<rows.rowCount {
                guard let time = rows.double(r, timeColumn), time.isFinite else { continue }
                if rows.bool(r, oversizedColumn) == true {
                    try body(time, rows.string(r, phaseColumn), true, nothing)
                } else if let inline = rows.bytes(r, valuesColumn) {
                    try body(time, rows.string(r, phaseColumn), false, values.coded(values: inline, quality: rows.bytes(r, qualityColumn)))
                } else {
                    let alone = try connection.execute(Self.oneSample, key + [rows.string(r, seqColumn)])
                    let coded = alone.rowCount == 1 ? values.coded(values: alone.bytes(0, alone.column("values_text")),
                                                                   quality: alone.bytes(0, alone.column("quality_text"))) : nothing
                    try body(time, rows.string(r, phaseColumn), false, coded)
                }
            }
        }
    }

    /// `$7` is `maxSampleBytes`, `$8` `inlineBytes`; `values_text` is NULL for a sample read on its own.
    static let query = """
        SELECT s.seq, extract(epoch FROM s.time)::float8 AS time_s, s.phase, x.oversized,
               CASE WHEN x.inline THEN t.values_text END AS values_text,
               CASE WHEN x.inline THEN t.quality_text END AS quality_text
        FROM stream_samples($1, $2, $3, $4::bigint, $5::bigint) s
        -- The texts made once a record (a chunk's record writes its values from its reals), not once each use.
        CROSS JOIN LATERAL (SELECT s."values"::text AS values_text, s.quality::text AS quality_text OFFSET 0) t
        CROSS JOIN LATERAL (SELECT octet_length(t.values_text) AS values_bytes, coalesce(octet_length(t.quality_text), 0) AS quality_bytes) b
        CROSS JOIN LATERAL (SELECT b.values_bytes > $7::int OR b.quality_bytes > $7::int AS oversized,
                                   b.values_bytes <= $8::int AND b.quality_bytes <= $8::int AS inline) x
        WHERE s.batch = $6
        ORDER BY s.seq
        """

    static let oneSample = """
        SELECT "values"::text AS values_text, quality::text AS quality_text FROM stream_samples($1, $2, $3, $4::bigint, $4::bigint)
        """
}
