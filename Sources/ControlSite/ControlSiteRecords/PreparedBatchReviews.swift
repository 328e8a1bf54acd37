import Foundation
import Hashing
import POCareCore

/// What a batch's review reads from every one of its samples: the statistics of each device,
/// the checks of the sites' records against the samples, and the state strips.
public struct PreparedBatchParts: Sendable, Codable, Equatable {
    public var statistics: [DeviceBatchStatistics]
    public var siteRecords: [SiteBatchRecordCheck]
    /// Nil unless the reader asked for them.
    public var labels: [LabelSeriesReader.Series]?
}

/// Reads a batch's samples for its review once per version of its record. Every change of the
/// record (a sample, an event, a run) takes a new version in `batch_record_versions` in the
/// same transaction, so parts kept for the current version are what reading the samples again
/// would give; they are kept per reader (limits, and the devices' metadata the reader follows),
/// and only while every spec looked up reads as it did. Parts read while the record changed
/// under them are not kept.
public enum PreparedBatchReviews {
    /// How the samples are read: the statistics' limits, and the state strips' (nil: none).
    public struct Reader: Sendable {
        public var series: BatchSeriesReader.Limits
        public var labels: LabelSeriesReader.Limits?
        public init(series: BatchSeriesReader.Limits, labels: LabelSeriesReader.Limits? = nil) {
            self.series = series
            self.labels = labels
        }

        /// Every limit that shapes what is read (not those that only refuse a read: `maxSamples`, `chunk`).
        public var key: String {
            let only = series.onlyParameters.map { $0.sorted().joined(separator: ",") } ?? "*"
            let strips = labels.map { "\($0.maxParameters)/\($0.maxSampleBytes)/\($0.maxChanges)" } ?? "-"
            return "pocare-prepared-review/1 series \(series.maxParameters)/\(series.maxSampleBytes)/\(series.plotColumns.map(String.init) ?? "-")/\(only)"
                + " labels \(strips)"
        }
    }

    /// The parts at the record's current version: kept ones when they are still what a read
    /// would give, else read (within `checkpoint`) and kept. `fresh` reads them whatever is kept
    /// (a signature's gate decides on the samples as they are).
    public static func parts(
        site: String, batch: String, specs: (String) throws -> IPCSpec?, reader: Reader, fresh: Bool = false, checkpoint: () throws -> Void = {},
        on connection: PostgresConnection
    ) throws -> PreparedBatchParts {
        let state = try self.state(site: site, batch: batch, reader: reader, on: connection)
        if !fresh, let version = state.version, let kept = try kept(site: site, batch: batch, inputs: state.inputs, version: version, specs: specs, on: connection) {
            return kept
        }
        let clock = ContinuousClock(), began = clock.now
        var looked: [String: Bool] = [:]
        func watched(_ fingerprint: String) throws -> IPCSpec? {
            let spec = try specs(fingerprint)
            looked[fingerprint] = spec != nil
            return spec
        }
        let parts = try read(site: site, batch: batch, specs: watched, reader: reader, keptChecks: !fresh, checkpoint: checkpoint, on: connection)
        if let version = state.version {
            try keep(parts, site: site, batch: batch, inputs: state.inputs, reader: reader, version: version, specs: looked,
                     seconds: Double((clock.now - began).nanoseconds) / 1e9, on: connection)
        }
        return parts
    }

    /// Reads every sample of the batch as the review needs them, keeping nothing; with
    /// `keptChecks`, the site records' checks come from `KeptSiteRecordChecks` (a comparison may
    /// have read them at this version already) and are kept there.
    public static func read(
        site: String, batch: String, specs: (String) throws -> IPCSpec?, reader: Reader, keptChecks: Bool = false,
        checkpoint: () throws -> Void = {}, on connection: PostgresConnection
    ) throws -> PreparedBatchParts {
        // The statistics first: a batch beyond the reader's sample limit is refused before anything is read.
        let statistics = try BatchSeriesReader.load(connection, site: site, batch: batch, specs: specs, limits: reader.series, checkpoint: checkpoint)
        let siteRecords = keptChecks
            ? try KeptSiteRecordChecks.current(site: site, batch: batch, specs: specs, checkpoint: checkpoint, on: connection)
            : try SiteBatchRecordCheck.load(connection, site: site, batch: batch, specs: specs, checkpoint: checkpoint)
        let labels = try reader.labels.map { try LabelSeriesReader.load(connection, site: site, batch: batch, limits: $0, checkpoint: checkpoint) }
        return PreparedBatchParts(statistics: statistics, siteRecords: siteRecords, labels: labels)
    }

    /// Whether parts are kept for the batch's current version with this reader (for the preparer and tests).
    public static func isPrepared(site: String, batch: String, reader: Reader, on connection: PostgresConnection) throws -> Bool {
        let state = try self.state(site: site, batch: batch, reader: reader, on: connection)
        guard let version = state.version else { return false }
        return try connection.execute("""
            SELECT 1 FROM prepared_batch_reviews WHERE site = $1 AND batch = $2 AND inputs = $3 AND version = $4
            """, [site, batch, state.inputs, String(version)]).rowCount == 1
    }

    /// Whether every device's part of the batch has ended (its `batch_ended` event is here): only
    /// then does its record stand still long enough to be read once and shown many times.
    public static func hasEnded(site: String, batch: String, on connection: PostgresConnection) throws -> Bool {
        try connection.execute("SELECT \(endedSQL("$1", "$2")) AS ended", [site, batch]).bool(0, "ended") ?? false
    }

    static func endedSQL(_ site: String, _ batch: String) -> String {
        """
        coalesce((SELECT bool_and(EXISTS (SELECT 1 FROM events e WHERE e.site = r.site AND e.batch = r.batch AND e.device = r.device
                                                                 AND e.kind = 'batch_ended'))
                  FROM (SELECT DISTINCT site, batch, device FROM batch_runs WHERE site = \(site) AND batch = \(batch)) r), false)
        """
    }

    /// Ended batches (every device's part) whose parts for this reader and their devices'
    /// metadata now are not kept at their record's current version, newest first, less those
    /// `excluding` names; a batch reaching into an archived month is not read until it is
    /// restored. The inputs' key is computed here as `state` computes it.
    public static func unprepared(reader: Reader, limit: Int, excluding: [(site: String, batch: String)] = [],
                                  on connection: PostgresConnection) throws -> [(site: String, batch: String)] {
        let rows = try connection.execute("""
            SELECT e.site, e.batch FROM events e
            JOIN batch_record_versions v ON v.site = e.site AND v.batch = e.batch
            WHERE e.kind = 'batch_ended' AND e.batch IS NOT NULL
              AND (e.site, e.batch) NOT IN (SELECT x.site, x.batch FROM unnest($3::text[], $4::text[]) AS x(site, batch))
              AND NOT EXISTS (SELECT 1 FROM prepared_batch_reviews p
                              WHERE p.site = e.site AND p.batch = e.batch AND p.reader = $1 AND p.version = v.version
                                AND p.inputs = encode(sha256(convert_to($5::text || ' metadata ' || \(metadataSQL("e.site", "e.batch")), 'UTF8')), 'hex'))
              AND NOT EXISTS (SELECT 1 FROM batch_runs r
                              JOIN archived_ranges a ON a.site = r.site AND a.epoch = r.epoch AND a.stream = r.stream
                                                    AND a.seq_from <= r.last_seq AND a.seq_to >= r.first_seq
                              WHERE r.site = e.site AND r.batch = e.batch)
            GROUP BY e.site, e.batch
            HAVING \(endedSQL("e.site", "e.batch"))
            ORDER BY max(e.time) DESC LIMIT $2::bigint
            """, [SHA256.hex(reader.key), String(limit), PostgresArray.text(excluding.map(\.site)), PostgresArray.text(excluding.map(\.batch)),
                  reader.key])
        return try rows.map { (try $0.requiredString("site"), try $0.requiredString("batch")) }
    }

    /// The record's version (nil: the batch has none yet, so nothing is kept), and the inputs'
    /// key: the reader's limits and the metadata of the batch's devices, which decide what is followed.
    static func state(site: String, batch: String, reader: Reader, on connection: PostgresConnection) throws -> (version: Int64?, inputs: String) {
        let row = try connection.execute("""
            SELECT (SELECT version FROM batch_record_versions WHERE site = $1 AND batch = $2) AS version, \(metadataSQL("$1", "$2")) AS metadata
            """, [site, batch])
        return (row.int(0, "version"), SHA256.hex(reader.key + " metadata " + (row.string(0, "metadata") ?? "")))
    }

    /// An md5 of the published metadata of the batch's devices: it decides which parameters are followed.
    static func metadataSQL(_ site: String, _ batch: String) -> String {
        """
        (SELECT md5(coalesce(string_agg(m.device || ' ' || coalesce(m.metadata::text, '') || ' ' || m.verified, E'\\n' ORDER BY m.device), ''))
         FROM device_metadata m
         WHERE m.site = \(site) AND m.device IN (SELECT device FROM batch_runs WHERE site = \(site) AND batch = \(batch)))
        """
    }

    static func kept(
        site: String, batch: String, inputs: String, version: Int64, specs: (String) throws -> IPCSpec?, on connection: PostgresConnection
    ) throws -> PreparedBatchParts? {
        let row = try connection.execute("""
            SELECT specs::text AS specs, parts FROM prepared_batch_reviews WHERE site = $1 AND batch = $2 AND inputs = $3 AND version = $4
            """, [site, batch, inputs, String(version)])
        guard let specsText = row.string(0, "specs"), let text = row.string(0, "parts") else { return nil }
        // A spec released (or withdrawn from reading) since changes which limits apply: read again.
        let looked = (try? JSONDecoder().decode([String: Bool].self, from: Data(specsText.utf8))) ?? [:]
        for (fingerprint, found) in looked where (try specs(fingerprint) != nil) != found { return nil }
        // What cannot be read back (written by another version of this software) is read again from the samples.
        return try? decoder.decode(PreparedBatchParts.self, from: Data(text.utf8))
    }

    /// Kept only when the version read before reading still stands: a change committed meanwhile
    /// took a new one (as the record hash and the chain walks are kept).
    static func keep(
        _ parts: PreparedBatchParts, site: String, batch: String, inputs: String, reader: Reader, version: Int64, specs: [String: Bool],
        seconds: Double, on connection: PostgresConnection
    ) throws {
        let text = String(decoding: try encoder.encode(parts), as: UTF8.self)
        let specsText = String(decoding: try JSONEncoder().encode(specs), as: UTF8.self)
        try connection.execute("""
            INSERT INTO prepared_batch_reviews (site, batch, inputs, reader, version, specs, parts, seconds)
            SELECT $1, $2, $3, $4, $5, $6::jsonb, $7, $8 FROM batch_record_versions WHERE site = $1 AND batch = $2 AND version = $5
            ON CONFLICT (site, batch, inputs) DO UPDATE SET version = excluded.version, specs = excluded.specs, parts = excluded.parts,
                prepared = now(), seconds = excluded.seconds
            WHERE prepared_batch_reviews.version <= excluded.version
            """, [site, batch, inputs, SHA256.hex(reader.key), String(version), specsText, text, String(seconds)])
        // What this reader kept with other inputs (the devices' metadata before) is dropped: one row a batch and reader.
        try connection.execute("""
            DELETE FROM prepared_batch_reviews WHERE site = $1 AND batch = $2 AND reader = $3 AND inputs <> $4
              AND EXISTS (SELECT 1 FROM prepared_batch_reviews k WHERE k.site = $1 AND k.batch = $2 AND k.inputs = $4)
            """, [site, batch, SHA256.hex(reader.key), inputs])
    }

    // Statistics of an empty or constant series can be NaN or infinite, which JSON has no number for.
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

extension LabelSeriesReader.Series: Codable {
    enum CodingKeys: String, CodingKey { case device, parameter, times, labels, end, truncated }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let times = try c.decode([Double].self, forKey: .times), labels = try c.decode([String?].self, forKey: .labels)
        guard times.count == labels.count else {
            throw DecodingError.dataCorruptedError(forKey: .labels, in: c, debugDescription: "as many labels as times")
        }
        self.init(device: try c.decode(String.self, forKey: .device), parameter: try c.decode(String.self, forKey: .parameter),
                  changes: zip(times, labels).map { (time: $0, label: $1) }, end: try c.decode(Double.self, forKey: .end), truncated: try c.decode(Bool.self, forKey: .truncated))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(device, forKey: .device)
        try c.encode(parameter, forKey: .parameter)
        try c.encode(changes.map(\.time), forKey: .times)
        try c.encode(changes.map(\.label), forKey: .labels)
        try c.encode(end, forKey: .end)
        try c.encode(truncated, forKey: .truncated)
    }
}
