/// 16: samples kept compact (docs/control-site.md, "The compact record store"). A row per sample
/// holds its text keys, hex hashes and JSON values again on every row, with a primary key entry
/// of the same text: about 640 bytes a sample of 8 values. A stream's samples of one minute, once
/// they are settled, are kept as one chunk: the keys, batch, phase and spec once, times and cycles
/// as small offsets, the values' JSON text and the hashes as arrays compressed with lz4.
///
/// Nothing about a record changes by being kept in a chunk: `stream_samples` and
/// `stored_samples` give back every record with the columns of `samples`, byte for byte (the
/// values' JSON exactly as sent, the hashes as the hex that was stored), and a chunk is written
/// only for records it gives back so: compaction proves it before it removes the rows. A record
/// that a chunk cannot give back exactly (a record from before `time_ns`, a time the site did not
/// write from it, a hash that is not lowercase hex) stays a row.
///
/// Which records are settled: those of a stream up to its contiguous number (no gap below them,
/// so a late record never lands inside a chunk), older than the compaction's cut-off, and in no
/// unresolved integrity finding or dispute. Ingest takes a stored record back out of its chunk
/// before a copy of it, or a neighbour's, is compared or linked (`sample_chunks_expand`), so every
/// check of ingest still works on rows.
enum SampleChunkSchema {
    static let migrations: [String] = [sampleChunks]

    static let sampleChunks = """
        CREATE TABLE sample_chunks (
            site          text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            seq_first     bigint NOT NULL,
            n             integer NOT NULL CHECK (n BETWEEN 1 AND 1024),   -- records seq_first ... seq_first + n - 1
            time_first    timestamptz NOT NULL,   -- the first record's time: the month partition's key
            device        text NOT NULL,
            batch         text,
            phase         text,
            spec          text,
            first_ns      bigint NOT NULL,        -- time_ns of record i = first_ns + (i - 1) * step_ns + offsets[i]
            step_ns       bigint NOT NULL,
            offsets       integer[],              -- NULL when an offset does not fit; then offsets_ns
            offsets_ns    bigint[],               -- time_ns - first_ns
            cycle_first   bigint NOT NULL,        -- cycle of record i = cycle_first + i - 1 + cycles[i]
            cycles        integer[] NOT NULL,
            "values"      text[] NOT NULL,        -- each record's values, the JSON text as stored
            quality       text[],                 -- NULL when no record has any
            raw           text[],                 -- NULL when no record has any
            -- 32 bytes each, n + 1: the first record's previous hash, then each record's hash. Kept
            -- uncompressed (hashes do not compress) so one record's is read without the rest.
            hashes        bytea NOT NULL CHECK (octet_length(hashes) = 32 * (n + 1)),
            PRIMARY KEY (site, epoch, stream, seq_first, time_first)
        ) PARTITION BY RANGE (time_first);
        ALTER TABLE sample_chunks
            ALTER COLUMN offsets SET COMPRESSION lz4, ALTER COLUMN offsets_ns SET COMPRESSION lz4,
            ALTER COLUMN cycles SET COMPRESSION lz4, ALTER COLUMN "values" SET COMPRESSION lz4,
            ALTER COLUMN quality SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4, ALTER COLUMN hashes SET STORAGE EXTERNAL;
        CREATE TABLE sample_chunks_default PARTITION OF sample_chunks DEFAULT WITH (toast_tuple_target = 128);

        -- The records of one chunk, as `samples` rows. A record's time is the one the site wrote
        -- from its time_ns (milliseconds, as `JSONWriter.time(nanoseconds:)` rounds them).
        CREATE FUNCTION sample_chunk_records(
            c_site text, c_epoch text, c_stream text, c_seq_first bigint, c_n integer, c_device text, c_batch text, c_phase text,
            c_spec text, c_first_ns bigint, c_step_ns bigint, c_offsets integer[], c_offsets_ns bigint[], c_cycle_first bigint,
            c_cycles integer[], c_values text[], c_quality text[], c_raw text[], c_hashes bytea) RETURNS SETOF samples
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT c_site, c_epoch, c_stream, c_seq_first + x.i - 1, c_device,
                   timestamptz 'epoch' + round(x.ns::float8 / 1e9 * 1000)::bigint * interval '1 millisecond',
                   c_cycle_first + x.i - 1 + x.cycle, c_batch, c_phase, c_spec, x.v::json, x.q::json, x.hash, x.previous_hash, x.ns, x.rw::json
            -- The hashes read once a chunk (a copy in memory), then cut per record.
            FROM (SELECT c_hashes || ''::bytea AS h OFFSET 0) d
            CROSS JOIN LATERAL (
                SELECT u.i, u.v, u.q, u.rw, u.cycle, c_first_ns + coalesce((u.i - 1) * c_step_ns + u.o, u.ons) AS ns,
                       encode(substr(d.h, 32 * u.i::int + 1, 32), 'hex') AS hash, encode(substr(d.h, 32 * (u.i::int - 1) + 1, 32), 'hex') AS previous_hash
                FROM unnest(c_values, c_quality, c_raw, c_offsets, c_offsets_ns, c_cycles) WITH ORDINALITY AS u(v, q, rw, o, ons, cycle, i)) x
        $$;

        -- The records of a stream numbered from ... to, rows and chunks alike.
        CREATE FUNCTION stream_samples(p_site text, p_epoch text, p_stream text, p_from bigint, p_to bigint) RETURNS SETOF samples
        LANGUAGE sql STABLE AS $$
            SELECT * FROM samples s WHERE s.site = p_site AND s.epoch = p_epoch AND s.stream = p_stream AND s.seq BETWEEN p_from AND p_to
            UNION ALL
            SELECT r.* FROM sample_chunks c
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes) r
            WHERE c.site = p_site AND c.epoch = p_epoch AND c.stream = p_stream
              AND c.seq_first BETWEEN p_from - 1023 AND p_to AND c.seq_first + c.n > p_from AND r.seq BETWEEN p_from AND p_to
        $$;

        -- Every stored record, rows and chunks alike.
        CREATE VIEW stored_samples AS
            SELECT * FROM samples
            UNION ALL
            SELECT r.* FROM sample_chunks c
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes) r;

        -- The chunks holding records numbered from ... to of a stream made rows again, proved the
        -- same; returns how many records. Ingest calls it before it compares or links records there.
        CREATE FUNCTION sample_chunks_expand(p_site text, p_epoch text, p_stream text, p_from bigint, p_to bigint) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            moved bigint;
        BEGIN
            WITH gone AS (
                DELETE FROM sample_chunks c
                WHERE c.site = p_site AND c.epoch = p_epoch AND c.stream = p_stream
                  AND c.seq_first BETWEEN p_from - 1023 AND p_to AND c.seq_first + c.n > p_from
                RETURNING c.*)
            INSERT INTO samples
            SELECT r.* FROM gone c
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes) r;
            GET DIAGNOSTICS moved = ROW_COUNT;
            RETURN moved;
        END $$;

        -- The month partition of chunks for the month that begins at `month_start`, made if missing.
        CREATE FUNCTION sample_chunks_month_partition(month_start timestamptz) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE
            first_day timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
            next_day timestamptz := (date_trunc('month', month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
            name text := 'sample_chunks_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
        BEGIN
            IF to_regclass(name) IS NOT NULL THEN RETURN name; END IF;
            PERFORM pg_advisory_xact_lock(7146354);
            IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = name
                       AND c.relnamespace = (SELECT p.relnamespace FROM pg_class p WHERE p.oid = 'sample_chunks'::regclass)) THEN
                RETURN name;
            END IF;
            IF EXISTS (SELECT 1 FROM sample_chunks_default WHERE time_first >= first_day AND time_first < next_day) THEN
                RAISE EXCEPTION 'chunks of % wait in the default partition', first_day;
            END IF;
            -- Every array compressed, the small ones too (a row under 2 kB is otherwise left as it is).
            EXECUTE format('CREATE TABLE %I PARTITION OF sample_chunks FOR VALUES FROM (%L) TO (%L) WITH (toast_tuple_target = 128)',
                           name, first_day, next_day);
            EXECUTE format('ALTER TABLE %I ALTER COLUMN offsets SET COMPRESSION lz4, ALTER COLUMN offsets_ns SET COMPRESSION lz4, '
                           'ALTER COLUMN cycles SET COMPRESSION lz4, ALTER COLUMN "values" SET COMPRESSION lz4, '
                           'ALTER COLUMN quality SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4, ALTER COLUMN hashes SET STORAGE EXTERNAL', name);
            RETURN name;
        END $$;

        -- Keeps a stream's settled records, numbered up to `p_through` and older than `p_before`,
        -- as chunks: a run of records of one minute, device, batch, phase and spec, each naming its
        -- predecessor's hash. The caller holds the stream's progress row. Every chunk written is read
        -- back and compared with the rows it replaces, column by column as text, before they go.
        -- Returns how many records were moved.
        CREATE FUNCTION sample_chunks_compact(p_site text, p_epoch text, p_stream text, p_through bigint, p_before timestamptz)
        RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
            month timestamptz;
            written bigint;
            proved bigint;
            moved bigint;
        BEGIN
            CREATE TEMP TABLE IF NOT EXISTS compacting (LIKE samples) ON COMMIT DROP;
            TRUNCATE compacting;
            INSERT INTO compacting
            SELECT s.* FROM samples s
            WHERE s.site = p_site AND s.epoch = p_epoch AND s.stream = p_stream AND s.seq <= p_through AND s.time < p_before
              AND s.time_ns IS NOT NULL AND s.cycle IS NOT NULL
              AND octet_length(s.hash) = 64 AND octet_length(s.previous_hash) = 64 AND s.hash || s.previous_hash !~ '[^0-9a-f]'
              AND s.time = timestamptz 'epoch' + round(s.time_ns::float8 / 1e9 * 1000)::bigint * interval '1 millisecond'
              -- Nothing an open finding or dispute names: QA may still replace it.
              AND NOT EXISTS (SELECT 1 FROM integrity_findings f
                              WHERE f.resolved IS NULL AND f.site = s.site AND f.epoch = s.epoch AND f.stream = s.stream
                                AND s.seq BETWEEN coalesce(f.seq_from, s.seq) AND coalesce(f.seq_to, s.seq))
              AND NOT EXISTS (SELECT 1 FROM record_disputes d
                              WHERE d.resolved IS NULL AND d.site = s.site AND d.epoch = s.epoch AND d.stream = s.stream AND d.seq = s.seq);
            IF NOT FOUND THEN RETURN 0; END IF;
            -- Planned with what it holds (a temporary table has no statistics until analysed).
            ANALYZE compacting;
            FOR month IN SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM compacting LOOP
                PERFORM sample_chunks_month_partition(month);
            END LOOP;

            CREATE TEMP TABLE IF NOT EXISTS chunks_written (seq_first bigint, n integer) ON COMMIT DROP;
            TRUNCATE chunks_written;
            WITH ordered AS (
                SELECT r.*,
                       CASE WHEN r.seq = lag(r.seq) OVER w + 1 AND r.previous_hash = lag(r.hash) OVER w
                             AND floor(extract(epoch FROM r.time) / 600) = floor(extract(epoch FROM lag(r.time) OVER w) / 600)
                             AND r.time_ns >= lag(r.time_ns) OVER w AND r.device = lag(r.device) OVER w
                             AND r.batch IS NOT DISTINCT FROM lag(r.batch) OVER w AND r.phase IS NOT DISTINCT FROM lag(r.phase) OVER w
                             AND r.spec IS NOT DISTINCT FROM lag(r.spec) OVER w
                             AND r.cycle - lag(r.cycle) OVER w BETWEEN -1000000 AND 1000000
                            THEN 0 ELSE 1 END AS starts
                FROM compacting r WINDOW w AS (ORDER BY r.seq)),
            runs AS (SELECT o.*, sum(o.starts) OVER (ORDER BY o.seq) AS run FROM ordered o),
            pieces AS (
                SELECT r.*, (row_number() OVER (PARTITION BY r.run ORDER BY r.seq) - 1) AS k FROM runs r),
            grouped AS (
                SELECT p.*, p.run * 1000000 + p.k / 1024 AS piece FROM pieces p),
            framed AS (
                SELECT g.*, first_value(g.time_ns) OVER p AS first_ns, first_value(g.cycle) OVER p AS cycle_first,
                       row_number() OVER p AS i, count(*) OVER (PARTITION BY g.piece) AS n,
                       (last_value(g.time_ns) OVER pw - first_value(g.time_ns) OVER pw) / greatest(count(*) OVER (PARTITION BY g.piece) - 1, 1) AS step_ns
                FROM grouped g
                WINDOW p AS (PARTITION BY g.piece ORDER BY g.seq),
                       pw AS (PARTITION BY g.piece ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)),
            written_chunks AS (
            INSERT INTO sample_chunks
            SELECT f.site, f.epoch, f.stream, min(f.seq), count(*)::int, min(f.time), min(f.device), min(f.batch), min(f.phase), min(f.spec),
                   min(f.first_ns), min(f.step_ns),
                   CASE WHEN bool_and(f.time_ns - f.first_ns - (f.i - 1) * f.step_ns BETWEEN -2147483648 AND 2147483647)
                        THEN array_agg((f.time_ns - f.first_ns - (f.i - 1) * f.step_ns)::int ORDER BY f.seq) END,
                   CASE WHEN NOT bool_and(f.time_ns - f.first_ns - (f.i - 1) * f.step_ns BETWEEN -2147483648 AND 2147483647)
                        THEN array_agg(f.time_ns - f.first_ns ORDER BY f.seq) END,
                   min(f.cycle_first), array_agg((f.cycle - f.cycle_first - (f.i - 1))::int ORDER BY f.seq),
                   array_agg(f."values"::text ORDER BY f.seq),
                   CASE WHEN bool_or(f.quality IS NOT NULL) THEN array_agg(f.quality::text ORDER BY f.seq) END,
                   CASE WHEN bool_or(f.raw IS NOT NULL) THEN array_agg(f.raw::text ORDER BY f.seq) END,
                   decode((array_agg(f.previous_hash ORDER BY f.seq))[1] || string_agg(f.hash, '' ORDER BY f.seq), 'hex')
            FROM framed f
            GROUP BY f.site, f.epoch, f.stream, f.piece
            -- A cycle that strays too far from its place stays a row.
            HAVING bool_and(f.cycle - f.cycle_first - (f.i - 1) BETWEEN -2147483648 AND 2147483647)
            RETURNING seq_first, n)
            INSERT INTO chunks_written SELECT seq_first, n FROM written_chunks;
            GET DIAGNOSTICS written = ROW_COUNT;
            IF written = 0 THEN RETURN 0; END IF;

            -- The proof: every record of the chunks just written reads back the same, column by
            -- column (the JSON as its text), as the row it was made of; only then do the rows go.
            CREATE TEMP TABLE IF NOT EXISTS compacted (seq bigint PRIMARY KEY) ON COMMIT DROP;
            TRUNCATE compacted;
            INSERT INTO compacted
            SELECT r.seq FROM chunks_written w
            JOIN sample_chunks c ON c.site = p_site AND c.epoch = p_epoch AND c.stream = p_stream AND c.seq_first = w.seq_first
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes) r
            JOIN compacting s ON s.seq = r.seq AND s.device = r.device AND s.time = r.time AND s.time_ns = r.time_ns AND s.cycle = r.cycle
                AND s.batch IS NOT DISTINCT FROM r.batch AND s.phase IS NOT DISTINCT FROM r.phase AND s.spec IS NOT DISTINCT FROM r.spec
                AND s."values"::text = r."values"::text AND s.quality::text IS NOT DISTINCT FROM r.quality::text
                AND s.raw::text IS NOT DISTINCT FROM r.raw::text AND s.hash = r.hash AND s.previous_hash = r.previous_hash;
            GET DIAGNOSTICS proved = ROW_COUNT;
            IF proved <> (SELECT sum(n) FROM chunks_written) THEN
                RAISE EXCEPTION 'chunks of % % do not give back the records they were made of: % of % do', p_site, p_stream, proved,
                    (SELECT sum(n) FROM chunks_written);
            END IF;
            DELETE FROM samples s USING compacted k
            WHERE s.site = p_site AND s.epoch = p_epoch AND s.stream = p_stream AND s.seq = k.seq;
            GET DIAGNOSTICS moved = ROW_COUNT;
            IF moved <> proved THEN
                RAISE EXCEPTION 'compaction of % % removed % rows for % records kept in chunks', p_site, p_stream, moved, proved;
            END IF;
            RETURN moved;
        END $$;

        -- A record leaving `samples` for a chunk (or a chunk's record leaving it for a row) is no
        -- change of any batch's record when the same record is stored in the other place: only then
        -- is the change passed over. Anything else is marked as before.
        -- One record taken out of its chunk by its place: its hash and the hash before it (a
        -- slice of the uncompressed hashes), its times, cycle, device, batch, phase and spec. The
        -- values are not unpacked for every row: the hash binds them, and was recomputed from them
        -- when the record arrived (verify recomputes it from the chunk's values again).
        CREATE FUNCTION sample_kept_elsewhere(r samples) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN EXISTS (
                SELECT 1 FROM sample_chunks c CROSS JOIN LATERAL (SELECT (r.seq - c.seq_first + 1)::int AS k) p
                WHERE c.site = r.site AND c.epoch = r.epoch AND c.stream = r.stream
                  AND c.seq_first BETWEEN r.seq - 1023 AND r.seq AND c.seq_first + c.n > r.seq
                  AND c.device = r.device AND c.batch IS NOT DISTINCT FROM r.batch AND c.phase IS NOT DISTINCT FROM r.phase
                  AND c.spec IS NOT DISTINCT FROM r.spec
                  AND encode(substr(c.hashes, 32 * (p.k - 1) + 1, 64), 'hex') = r.previous_hash || r.hash
                  AND c.first_ns + coalesce((p.k - 1) * c.step_ns + c.offsets[p.k], c.offsets_ns[p.k]) = r.time_ns
                  AND timestamptz 'epoch' + round(r.time_ns::float8 / 1e9 * 1000)::bigint * interval '1 millisecond' = r.time
                  AND c.cycle_first + p.k - 1 + c.cycles[p.k] = r.cycle);
        END $$;
        CREATE OR REPLACE FUNCTION batch_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'samples_default' AND TG_OP = 'DELETE' AND current_setting('pocare.moving_samples', true) = 'on' THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'DELETE' AND TG_TABLE_NAME ~ '^samples_' THEN
                IF sample_kept_elsewhere(ROW(OLD.*)::samples) THEN RETURN NULL; END IF;
            END IF;
            -- The version row first: a signature in progress holds it, and this change waits for it.
            IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.batch IS NOT NULL THEN
                PERFORM batch_record_touch(OLD.site, OLD.batch);
                UPDATE batch_dispositions SET record_changed = now()
                WHERE site = OLD.site AND batch = OLD.batch AND record_changed IS NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.batch IS NOT NULL THEN
                PERFORM batch_record_touch(NEW.site, NEW.batch);
                UPDATE batch_dispositions SET record_changed = now()
                WHERE site = NEW.site AND batch = NEW.batch AND record_changed IS NULL;
            END IF;
            RETURN NULL;
        END $$;

        -- A chunk changed in place, or removed without its records stored as rows, changes its batch's record.
        CREATE FUNCTION sample_chunk_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND NOT EXISTS (
                SELECT 1 FROM sample_chunk_records(OLD.site, OLD.epoch, OLD.stream, OLD.seq_first, OLD.n, OLD.device, OLD.batch, OLD.phase,
                    OLD.spec, OLD.first_ns, OLD.step_ns, OLD.offsets, OLD.offsets_ns, OLD.cycle_first, OLD.cycles, OLD."values", OLD.quality,
                    OLD.raw, OLD.hashes) x
                WHERE NOT EXISTS (SELECT 1 FROM samples s WHERE s.site = x.site AND s.epoch = x.epoch AND s.stream = x.stream
                                                            AND s.seq = x.seq AND s::text = x::text)) THEN
                RETURN NULL;
            END IF;
            IF OLD.batch IS NOT NULL THEN
                PERFORM batch_record_touch(OLD.site, OLD.batch);
                UPDATE batch_dispositions SET record_changed = now() WHERE site = OLD.site AND batch = OLD.batch AND record_changed IS NULL;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.batch IS NOT NULL THEN
                PERFORM batch_record_touch(NEW.site, NEW.batch);
                UPDATE batch_dispositions SET record_changed = now() WHERE site = NEW.site AND batch = NEW.batch AND record_changed IS NULL;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER sample_chunks_change_records AFTER UPDATE OR DELETE ON sample_chunks
            FOR EACH ROW EXECUTE FUNCTION sample_chunk_changed();
        """
}
