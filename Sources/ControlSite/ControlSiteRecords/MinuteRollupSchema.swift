/// 15: per stream and minute, what the pages of a long batch need of its samples without reading
/// them (docs/control-site.md, "Minute rollups"): kept at ingest, in the transaction that stores
/// the samples, so they are never behind what is stored.
enum MinuteRollupSchema {
    static let migrations: [String] = [minuteRollups]

    static let minuteRollups = """
        -- Per stream, minute since 1970, batch, phase and parameter: the samples that name the
        -- parameter, how many of them hold a number read well, its lowest and highest, and the
        -- time-weighted sum (each number held until the stream's next record, at most a minute)
        -- with the time it covers, from which the minute's mean follows. The time of an interval
        -- counts in the minute, batch and phase of the record that holds it. Labels, flags and
        -- values not read well are counted, never summed. Records stored before this version are
        -- not in it (the page says how many samples the rollups cover).
        CREATE TABLE sample_minutes (
            site      text NOT NULL,
            epoch     text NOT NULL,
            stream    text NOT NULL,
            minute    bigint NOT NULL,
            batch     text NOT NULL,     -- '' outside a batch
            phase     text NOT NULL,     -- '' without a phase
            parameter text NOT NULL,
            samples   integer NOT NULL,
            n         integer NOT NULL,
            lo        float8,
            hi        float8,
            wsum      float8 NOT NULL,
            held      float8 NOT NULL,   -- seconds
            PRIMARY KEY (site, epoch, stream, minute, batch, phase, parameter)
        );
        """
}
