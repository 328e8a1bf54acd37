/// 15: per stream and minute, what the pages of a long batch need of its samples without reading
/// them (docs/control-site.md, "Minute rollups"): kept at ingest, in the transaction that stores
/// the samples, so they are never behind what is stored.
enum MinuteRollupSchema {
    static let migrations: [String] = [minuteRollups]

    static let minuteRollups = """
        -- Per stream, minute since 1970, batch and phase, one row with an array element per
        -- parameter (a row per parameter cost ingest eight upserts a minute and 34 bytes a sample):
        -- the samples that name the parameter, how many of them hold a number read well, its
        -- lowest and highest, and the time-weighted sum (each number held until the stream's next
        -- record, at most a minute) with the seconds it covers, from which the minute's mean
        -- follows. The time of an interval counts in the minute, batch and phase of the record
        -- that holds it. Labels, flags and values not read well are counted, never summed.
        -- Samples stored before this version are not in it (`pocare-control verify
        -- --rebuild-rollups` builds them).
        CREATE TABLE sample_minutes (
            site       text NOT NULL,
            epoch      text NOT NULL,
            stream     text NOT NULL,
            minute     bigint NOT NULL,
            batch      text NOT NULL,     -- '' outside a batch
            phase      text NOT NULL,     -- '' without a phase
            parameters text[] NOT NULL,
            samples    integer[] NOT NULL,
            n          integer[] NOT NULL,
            lo         float8[] NOT NULL,  -- NULL elements where no number was read well
            hi         float8[] NOT NULL,
            wsum       float8[] NOT NULL,
            held       float8[] NOT NULL,  -- seconds
            PRIMARY KEY (site, epoch, stream, minute, batch, phase)
        );

        -- The same, a row per parameter, for those who read them.
        CREATE VIEW sample_minute_values AS
            SELECT m.site, m.epoch, m.stream, m.minute, m.batch, m.phase, u.parameter, u.samples, u.n, u.lo, u.hi, u.wsum, u.held
            FROM sample_minutes m
            CROSS JOIN LATERAL unnest(m.parameters, m.samples, m.n, m.lo, m.hi, m.wsum, m.held) AS u(parameter, samples, n, lo, hi, wsum, held);
        """
}
