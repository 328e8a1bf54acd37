import POCareContract
import ArgumentParser
import ControlSiteRecords
import Foundation
import Logging

/// The ways of keeping telemetry samples that `store-design` compares (docs/control-site.md, "A compact record store: measured, not built").
enum DesignCandidate: String, CaseIterable, ExpressibleByArgument {
    /// Today's schema: one row per sample, text keys on every row, JSON values, hex hashes.
    case today
    /// (a) One row per sample: interned keys, the hash as bytea, values as real[] where a
    /// float32 holds them exactly and float8[] where not, quality only where not good.
    case rows
    /// (b) One row per stream, minute and run of numbers (arrays, lz4), every record's hash kept.
    case chunksHashes = "chunks-hashes"
    /// (c) As (b), but each chunk keeps only the hash before its first record and its last
    /// record's hash: every other hash is recomputed from the stored fields. Times as a step and
    /// int offsets.
    case chunks
    /// (c) with every value a float8 (no narrowing to real).
    case chunksFloat8 = "chunks-float8"

    var isChunked: Bool { self == .chunksHashes || self == .chunks || self == .chunksFloat8 }

    var summary: String {
        switch self {
        case .today: "today: row per sample, text keys, json values, hex hashes"
        case .rows: "(a) row per sample, int keys, bytea hash, real[]/float8[]"
        case .chunksHashes: "(b) chunk per stream-minute, lz4 arrays, every hash"
        case .chunks: "(c) chunk per stream-minute, lz4 arrays, chain anchors, int time offsets"
        case .chunksFloat8: "(c) as chunks, values all float8"
        }
    }
}

/// Tables of the candidates. Every design table is keyed by site first, partitioned by month
/// where it grows with time, and read by interned small-integer keys.
enum DesignSchema {
    static let nanosecondsPerMinute: Int64 = 60_000_000_000

    /// What every design candidate shares: the interned keys, stream progress, and the rollups.
    static let common = """
        CREATE TABLE site_keys (site_id int PRIMARY KEY, site text NOT NULL UNIQUE);
        CREATE TABLE stream_keys (
            stream_id int PRIMARY KEY, site_id int NOT NULL, epoch text NOT NULL, stream text NOT NULL, device text NOT NULL,
            UNIQUE (site_id, epoch, stream));
        CREATE TABLE sample_contexts (context_id int PRIMARY KEY, batch text, phase text, spec text);
        CREATE TABLE sample_layouts (layout_id int PRIMARY KEY, parameters text NOT NULL);
        CREATE TABLE stream_progress (
            stream_id int PRIMARY KEY, site_id int NOT NULL, contiguous bigint NOT NULL DEFAULT 0,
            highest bigint NOT NULL DEFAULT 0, newest_ns bigint);
        CREATE TABLE stream_gaps (
            stream_id int NOT NULL, seq_from bigint NOT NULL, seq_to bigint NOT NULL, opened timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (stream_id, seq_from));
        -- Per stream, minute (since 1970) and context: the records whose time falls in it, and per
        -- parameter the good values, lowest, highest, and the time-weighted sums (each value held
        -- until the next record, at most the hold limit) from which means and SDs follow.
        CREATE TABLE minute_rollups (
            minute int NOT NULL, site_id int NOT NULL, stream_id int NOT NULL, context_id int NOT NULL, samples int NOT NULL,
            n int[] NOT NULL, lo float8[] NOT NULL, hi float8[] NOT NULL, wsum float8[] NOT NULL, wsq float8[] NOT NULL,
            held float8[] NOT NULL,
            PRIMARY KEY (site_id, stream_id, minute, context_id)) PARTITION BY RANGE (minute);
        CREATE FUNCTION f8_add(a float8[], b float8[]) RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) $$;
        CREATE FUNCTION i4_add(a int[], b int[]) RETURNS int[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) $$;
        CREATE FUNCTION f8_least(a float8[], b float8[]) RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT array_agg(least(x, y) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) $$;
        CREATE FUNCTION f8_greatest(a float8[], b float8[]) RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT array_agg(greatest(x, y) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i) $$;
        """

    static let rows = """
        CREATE TABLE sample_rows (
            seq bigint NOT NULL, time_ns bigint NOT NULL, cycle bigint NOT NULL,
            site_id int NOT NULL, stream_id int NOT NULL, context_id int NOT NULL, layout_id int NOT NULL,
            hash bytea NOT NULL,
            narrow real[],     -- per parameter, the values a float32 holds exactly (NULL elsewhere)
            wide float8[],     -- the others; NULL when there are none
            bad int[]          -- (parameter * 4 + quality) of the values not read well; NULL when all were
        ) PARTITION BY RANGE (time_ns);
        """

    static let chunks = """
        CREATE TABLE sample_chunks (
            seq_first bigint NOT NULL, first_ns bigint NOT NULL, time_step bigint NOT NULL, cycle_first bigint NOT NULL,
            site_id int NOT NULL, stream_id int NOT NULL, context_id int NOT NULL, layout_id int NOT NULL,
            n smallint NOT NULL,
            previous_hash bytea NOT NULL,   -- the hash of record seq_first - 1 (64 zeros for the first)
            last_hash bytea NOT NULL,       -- the hash of record seq_first + n - 1
            hashes bytea,                   -- every record's hash, 32 bytes each, where kept
            offsets int[],                  -- time_ns = first_ns + (i - 1) * time_step + offsets[i]
            offsets_ns bigint[],            -- time_ns - first_ns, when an offset does not fit an int
            cycles int[],                   -- cycle - cycle_first; NULL when cycle_first + i - 1
            narrow real[],                  -- [parameter][record], values a float32 holds exactly
            wide float8[],                  -- [parameter][record], the others
            bad int[]                       -- ((record - 1) * 1024 + parameter) * 4 + quality where not good
        ) PARTITION BY RANGE (first_ns);
        -- Live records, one row each, until their minute is closed and compacted into a chunk.
        CREATE TABLE sample_staging (
            seq bigint NOT NULL, time_ns bigint NOT NULL, cycle bigint NOT NULL,
            site_id int NOT NULL, stream_id int NOT NULL, context_id int NOT NULL, layout_id int NOT NULL,
            previous_hash bytea NOT NULL, hash bytea NOT NULL, vals float8[] NOT NULL, bad int[],
            PRIMARY KEY (site_id, stream_id, seq));
        """

    /// Creates the candidate's tables in an empty database.
    static func create(_ candidate: DesignCandidate, on connection: PostgresConnection) throws {
        if candidate == .today {
            var logger = Logger(label: "store-design")
            logger.logLevel = .warning
            try ControlSchema.migrate(connection, logger: logger)
            return
        }
        try connection.executeScript(common)
        try connection.executeScript(candidate.isChunked ? chunks : rows)
    }

    /// Monthly partitions covering `range` of nanoseconds since 1970, for the candidate's sample
    /// table and the rollups; each with its own primary key by (site, stream, number).
    static func createPartitions(_ candidate: DesignCandidate, covering range: ClosedRange<Int64>, layout: ChunkLayout = .init(),
                                 on connection: PostgresConnection) throws {
        guard candidate != .today else { return }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let first = Date(timeIntervalSince1970: Double(range.lowerBound) / 1e9)
        let last = Date(timeIntervalSince1970: Double(range.upperBound) / 1e9)
        var month = calendar.date(from: calendar.dateComponents([.year, .month], from: first))!
        while month <= last {
            let next = calendar.date(byAdding: .month, value: 1, to: month)!
            let from = Int64(month.timeIntervalSince1970) * 1_000_000_000, to = Int64(next.timeIntervalSince1970) * 1_000_000_000
            let name = String(format: "%04d_%02d", calendar.component(.year, from: month), calendar.component(.month, from: month))
            let minuteFrom = from / nanosecondsPerMinute, minuteTo = to / nanosecondsPerMinute
            try connection.executeScript("""
                CREATE TABLE IF NOT EXISTS minute_rollups_\(name) PARTITION OF minute_rollups FOR VALUES FROM (\(minuteFrom)) TO (\(minuteTo));
                """)
            if candidate.isChunked && layout.storage == .extended {
                try connection.executeScript("""
                    CREATE TABLE IF NOT EXISTS sample_chunks_\(name) PARTITION OF sample_chunks FOR VALUES FROM (\(from)) TO (\(to));
                    ALTER TABLE sample_chunks_\(name)
                        ALTER COLUMN offsets SET COMPRESSION lz4, ALTER COLUMN offsets_ns SET COMPRESSION lz4,
                        ALTER COLUMN narrow SET COMPRESSION lz4, ALTER COLUMN wide SET COMPRESSION lz4, ALTER COLUMN hashes SET COMPRESSION lz4;
                    ALTER TABLE sample_chunks_\(name) ADD PRIMARY KEY (site_id, stream_id, seq_first);
                    """)
            } else if candidate.isChunked {
                // Arrays compressed with lz4 and kept in the row (MAIN): a chunk is read whole.
                try connection.executeScript("""
                    CREATE TABLE IF NOT EXISTS sample_chunks_\(name) PARTITION OF sample_chunks
                        FOR VALUES FROM (\(from)) TO (\(to)) WITH (toast_tuple_target = 128);
                    ALTER TABLE sample_chunks_\(name)
                        ALTER COLUMN offsets SET STORAGE MAIN, ALTER COLUMN offsets SET COMPRESSION lz4,
                        ALTER COLUMN offsets_ns SET STORAGE MAIN, ALTER COLUMN offsets_ns SET COMPRESSION lz4,
                        ALTER COLUMN narrow SET STORAGE MAIN, ALTER COLUMN narrow SET COMPRESSION lz4,
                        ALTER COLUMN wide SET STORAGE MAIN, ALTER COLUMN wide SET COMPRESSION lz4,
                        ALTER COLUMN hashes SET STORAGE MAIN, ALTER COLUMN hashes SET COMPRESSION lz4;
                    ALTER TABLE sample_chunks_\(name) ADD PRIMARY KEY (site_id, stream_id, seq_first);
                    """)
            } else {
                try connection.executeScript("""
                    CREATE TABLE IF NOT EXISTS sample_rows_\(name) PARTITION OF sample_rows FOR VALUES FROM (\(from)) TO (\(to));
                    ALTER TABLE sample_rows_\(name) ADD PRIMARY KEY (site_id, stream_id, seq);
                    """)
            }
            month = next
        }
    }

    /// The interned keys of the synthetic streams.
    static func intern(_ streams: [DesignStream], on connection: PostgresConnection) throws {
        for site in Dictionary(grouping: streams, by: \.siteId).values.map({ $0[0] }) {
            try connection.execute("INSERT INTO site_keys VALUES ($1, $2)", [String(site.siteId), site.site])
        }
        for s in streams {
            try connection.execute("INSERT INTO stream_keys VALUES ($1, $2, $3, $4, $5)",
                                   [String(s.streamId), String(s.siteId), "e1366c405abc52957a8689d2642089e5", s.name, s.device])
            try connection.execute("INSERT INTO stream_progress (stream_id, site_id) VALUES ($1, $2)", [String(s.streamId), String(s.siteId)])
            try connection.execute("""
                INSERT INTO sample_contexts VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
                """, [String(s.contextId), s.context.batchId, s.context.phase, s.context.specFingerprint])
        }
        try connection.execute("INSERT INTO sample_layouts VALUES (1, $1)", [designParameterList])
    }
}
