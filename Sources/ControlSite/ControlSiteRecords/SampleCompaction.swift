import Foundation
import Logging

/// Keeps settled samples as chunks (`SampleChunkSchema`): a stream at a time, each in its own
/// transaction holding the stream's progress row, so ingest of that stream waits for it and
/// ingest of every other stream goes on. `pocare-control compact` runs it once; `run` every
/// `store.compact_every`.
public struct SampleCompaction: Sendable {
    /// Records younger than this stay rows: a late copy or a neighbour of a new record is then
    /// still a row, and a running batch's newest minutes are read without unpacking chunks.
    public var settledAfter: TimeInterval
    /// At most this many streams a pass, so one pass never holds the database long.
    public var streamsPerPass: Int
    /// At most this many numbers of a stream a transaction (a day at 1 Hz): ingest of the stream
    /// waits for each, so a stream with a long backlog of rows (a database of an earlier
    /// release, a site back after weeks) is moved a day at a time, not in one long wait.
    public var recordsPerTransaction: Int64

    public init(settledAfter: TimeInterval = 3600, streamsPerPass: Int = 10_000, recordsPerTransaction: Int64 = 86_400) {
        self.settledAfter = settledAfter
        self.streamsPerPass = streamsPerPass
        self.recordsPerTransaction = max(recordsPerTransaction, 1)
    }

    public struct Pass: Sendable, Equatable {
        public var streams = 0
        public var records: Int64 = 0
    }

    /// Compacts every telemetry stream's settled samples, or those of `site`.
    public func run(site: String? = nil, takes: (String) -> Bool = { _ in true }, now: Date = Date(), on connection: PostgresConnection,
                    logger: Logger) throws -> Pass {
        let cutOff = now.addingTimeInterval(-settledAfter)
        let streams = try connection.execute("""
            SELECT site, epoch, stream FROM streams
            WHERE kind = 'sample' AND ($1::text IS NULL OR site = $1) AND contiguous > 0
            ORDER BY site, epoch, stream LIMIT $2::int
            """, [site, String(streamsPerPass)]).map { StreamKey(site: $0.string("site") ?? "", epoch: $0.string("epoch") ?? "", stream: $0.string("stream") ?? "") }
        var pass = Pass()
        for key in streams where takes(key.site) {
            let moved = try compact(key, before: cutOff, on: connection)
            pass.streams += 1
            pass.records += moved
            if moved > 0 {
                logger.info("samples kept as chunks", metadata: ["site": "\(key.site)", "stream": "\(key.stream)", "records": "\(moved)"])
            }
        }
        return pass
    }

    /// One stream's settled samples, up to its contiguous number, moved into chunks, at most
    /// `recordsPerTransaction` numbers a transaction.
    func compact(_ key: StreamKey, before cutOff: Date, on connection: PostgresConnection) throws -> Int64 {
        var moved: Int64 = 0, after: Int64? = nil
        while true {
            let step = try connection.transaction { () throws -> (moved: Int64, through: Int64, last: Bool)? in
                // An archive or restore of a month holds this lock: its rows stay rows meanwhile.
                guard try connection.execute("SELECT pg_try_advisory_xact_lock_shared(7146357) AS got").bool(0, "got") == true else { return nil }
                let progress = try connection.execute("""
                    SELECT t.contiguous, (SELECT min(s.seq) FROM samples s WHERE s.site = t.site AND s.epoch = t.epoch AND s.stream = t.stream
                                            AND s.seq > coalesce($4::bigint, 0)) AS first
                    FROM streams t WHERE t.site = $1 AND t.epoch = $2 AND t.stream = $3 FOR UPDATE
                    """, [key.site, key.epoch, key.stream, after.map(String.init)])
                guard let contiguous = progress.int(0, "contiguous"), let first = progress.int(0, "first"), first <= contiguous else { return nil }
                // Numbers come from sites: a stream's span is measured without overflowing near the ends of Int64.
                let (span, beyond) = contiguous.subtractingReportingOverflow(first)
                let through = beyond || span >= recordsPerTransaction ? first + recordsPerTransaction - 1 : contiguous
                let moved = try connection.execute("SELECT sample_chunks_compact($1, $2, $3, $4::bigint, $5::bigint, to_timestamp($6::float8)) AS moved",
                                                   [key.site, key.epoch, key.stream, String(first), String(through), String(cutOff.timeIntervalSince1970)])
                    .int(0, "moved") ?? 0
                return (moved, through, through == contiguous)
            }
            guard let step else { return moved }
            moved += step.moved
            if step.last { return moved }
            after = step.through
        }
    }
}
