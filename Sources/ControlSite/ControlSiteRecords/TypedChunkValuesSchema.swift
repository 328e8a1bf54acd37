/// 17: a chunk keeps its records' numbers as reals (docs/control-site.md, "The compact record
/// store"). The values' JSON text of noisy sensors does not compress: seven significant digits
/// that change every second cost about 52 bytes a sample of 8 values as lz4 text, 32 as reals.
/// A chunk now keeps a template of its records' values (`{"ph":%s,...}`, the keys and anything
/// that is not a plain number as text) and each record's numbers as a row of `value_reals`.
///
/// Nothing about a record changes: a number is kept as a real only when the real is written
/// back as exactly the text the site sent (its shortest decimal, which is how the site writes a
/// float32 register), and a record only when its template filled with its reals is its text.
/// Any other record of the chunk keeps its text in `values`. Compaction proves every record
/// read back against its row, as before. Reading does not depend on the session: a session that
/// asks PostgreSQL for fewer or more float digits reads the same text (`sample_values_text`).
enum TypedChunkValuesSchema {
    static let migrations: [String] = [typedValues]

    static let typedValues = """
        ALTER TABLE sample_chunks ADD COLUMN value_template text, ADD COLUMN value_reals real[], ALTER COLUMN "values" DROP NOT NULL;
        ALTER TABLE sample_chunks ALTER COLUMN value_template SET COMPRESSION lz4, ALTER COLUMN value_reals SET COMPRESSION lz4;
        ALTER TABLE sample_chunks ADD CONSTRAINT sample_chunks_values_kept
            CHECK (("values" IS NOT NULL OR value_template IS NOT NULL) AND (value_template IS NULL) = (value_reals IS NULL));

        DROP VIEW stored_samples;
        DROP FUNCTION sample_chunk_records(text, text, text, bigint, integer, text, text, text, text, bigint, bigint, integer[], bigint[], bigint,
                                           integer[], text[], text[], text[], bytea);

        -- A record's values from its template and reals, each real written as the shortest text that
        -- reads back as the same real (what a session with extra_float_digits above 0 writes).
        CREATE FUNCTION sample_values_text(template text, reals real[]) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE SET extra_float_digits = 1 AS $$ SELECT format(template, VARIADIC reals::text[]) $$;

        -- The records of one chunk, as `samples` rows. A record's time is the one the site wrote from
        -- its time_ns (milliseconds, as `JSONWriter.time(nanoseconds:)` rounds them). A record's values
        -- are its text, or its template filled with its reals, each written as the shortest text that
        -- reads back as the same real: compaction kept a value as a real only when that text is the one
        -- the site sent. A session that asks for fewer digits (extra_float_digits 0 or below) has
        -- them written by sample_values_text, which sets its own; the function itself sets nothing,
        -- so that it is inlined into the query that reads it.
        CREATE FUNCTION sample_chunk_records(
            c_site text, c_epoch text, c_stream text, c_seq_first bigint, c_n integer, c_device text, c_batch text, c_phase text,
            c_spec text, c_first_ns bigint, c_step_ns bigint, c_offsets integer[], c_offsets_ns bigint[], c_cycle_first bigint,
            c_cycles integer[], c_values text[], c_quality text[], c_raw text[], c_hashes bytea, c_value_template text, c_value_reals real[])
        RETURNS SETOF samples LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT c_site, c_epoch, c_stream, c_seq_first + x.i - 1, c_device,
                   timestamptz 'epoch' + round(x.ns::float8 / 1e9 * 1000)::bigint * interval '1 millisecond',
                   c_cycle_first + x.i - 1 + x.cycle, c_batch, c_phase, c_spec,
                   coalesce(x.v, CASE WHEN current_setting('extra_float_digits')::int > 0 THEN format(d.template, VARIADIC d.reals[x.i:x.i][1:d.k]::text[])
                                      ELSE sample_values_text(d.template, d.reals[x.i:x.i][1:d.k]) END)::json,
                   x.q::json, x.hash, x.previous_hash, x.ns, x.rw::json
            -- The hashes, reals and template read once a chunk (copies in memory), then used per
            -- record: named from the chunk's row, each was read out of the row again every record.
            FROM (SELECT c_hashes || ''::bytea AS h, c_value_reals || '{}'::real[] AS reals, array_length(c_value_reals, 2) AS k,
                         c_value_template || '' AS template OFFSET 0) d
            CROSS JOIN LATERAL (
                SELECT u.i, u.v, u.q, u.rw, u.cycle, c_first_ns + coalesce((u.i - 1) * c_step_ns + u.o, u.ons) AS ns,
                       encode(substr(d.h, 32 * u.i::int + 1, 32), 'hex') AS hash, encode(substr(d.h, 32 * (u.i::int - 1) + 1, 32), 'hex') AS previous_hash
                FROM unnest(c_values, c_quality, c_raw, c_offsets, c_offsets_ns, c_cycles) WITH ORDINALITY AS u(v, q, rw, o, ons, cycle, i)) x
        $$;

        -- The records of a stream numbered from ... to, rows and chunks alike.
        CREATE OR REPLACE FUNCTION stream_samples(p_site text, p_epoch text, p_stream text, p_from bigint, p_to bigint) RETURNS SETOF samples
        LANGUAGE sql STABLE AS $$
            SELECT * FROM samples s WHERE s.site = p_site AND s.epoch = p_epoch AND s.stream = p_stream AND s.seq BETWEEN p_from AND p_to
            UNION ALL
            SELECT r.* FROM sample_chunks c
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes,
                c.value_template, c.value_reals) r
            WHERE c.site = p_site AND c.epoch = p_epoch AND c.stream = p_stream
              AND c.seq_first BETWEEN p_from - 1023 AND p_to AND c.seq_first + c.n > p_from AND r.seq BETWEEN p_from AND p_to
        $$;

        -- Every stored record, rows and chunks alike. The keys, device, batch, phase and spec come from
        -- the chunk's own columns, so a condition on them selects chunks before any is unpacked.
        CREATE VIEW stored_samples AS
            SELECT * FROM samples
            UNION ALL
            SELECT c.site, c.epoch, c.stream, r.seq, c.device, r.time, r.cycle, c.batch, c.phase, c.spec, r."values", r.quality, r.hash,
                   r.previous_hash, r.time_ns, r.raw
            FROM sample_chunks c
            CROSS JOIN LATERAL sample_chunk_records(c.site, c.epoch, c.stream, c.seq_first, c.n, c.device, c.batch, c.phase, c.spec,
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes,
                c.value_template, c.value_reals) r;

        -- The chunks holding records numbered from ... to of a stream made rows again, proved the
        -- same; returns how many records. Ingest calls it before it compares or links records there.
        CREATE OR REPLACE FUNCTION sample_chunks_expand(p_site text, p_epoch text, p_stream text, p_from bigint, p_to bigint) RETURNS bigint
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
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes,
                c.value_template, c.value_reals) r;
            GET DIAGNOSTICS moved = ROW_COUNT;
            RETURN moved;
        END $$;

        -- The month partition of chunks for the month that begins at `month_start`, made if missing.
        CREATE OR REPLACE FUNCTION sample_chunks_month_partition(month_start timestamptz) RETURNS text LANGUAGE plpgsql AS $$
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
                           'ALTER COLUMN quality SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4, ALTER COLUMN hashes SET STORAGE EXTERNAL, '
                           'ALTER COLUMN value_template SET COMPRESSION lz4, ALTER COLUMN value_reals SET COMPRESSION lz4', name);
            RETURN name;
        END $$;

        -- A chunk changed in place, or removed without its records stored as rows, changes its batch's record.
        CREATE OR REPLACE FUNCTION sample_chunk_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND NOT EXISTS (
                SELECT 1 FROM sample_chunk_records(OLD.site, OLD.epoch, OLD.stream, OLD.seq_first, OLD.n, OLD.device, OLD.batch, OLD.phase,
                    OLD.spec, OLD.first_ns, OLD.step_ns, OLD.offsets, OLD.offsets_ns, OLD.cycle_first, OLD.cycles, OLD."values", OLD.quality,
                    OLD.raw, OLD.hashes, OLD.value_template, OLD.value_reals) x
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
        -- Keeps a stream's settled records numbered p_from ... p_through and older than p_before as
        -- chunks, as version 16 did, with each record's numbers as reals where that is exact.
        -- Numbered from p_from: a stream is compacted a day of numbers a transaction, and the rows
        -- the transactions before removed are not read again (until vacuumed they are still in
        -- the index, and each transaction would walk more of them).
        DROP FUNCTION sample_chunks_compact(text, text, text, bigint, timestamptz);
        CREATE FUNCTION sample_chunks_compact(p_site text, p_epoch text, p_stream text, p_from bigint, p_through bigint, p_before timestamptz)
        RETURNS bigint LANGUAGE plpgsql SET extra_float_digits = 1 AS $$
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
            WHERE s.site = p_site AND s.epoch = p_epoch AND s.stream = p_stream AND s.seq BETWEEN p_from AND p_through AND s.time < p_before
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
            -- Each record's values as a template and its numbers as reals, where that gives back the
            -- text exactly: every number a plain decimal (no exponent, so the cast cannot overflow)
            -- whose real is written back as the same text, and the template filled with them equal to
            -- the record's text. Anything else keeps its text.
            typed AS (
                SELECT f.*, tv.template, tv.texts
                FROM framed f
                LEFT JOIN LATERAL (
                    SELECT t.template, t.texts FROM (
                        SELECT '{' || string_agg(replace(to_json(e.key)::text, '%', '%%') || ':'
                                                 || CASE WHEN e.typed THEN '%s' ELSE replace(e.value::text, '%', '%%') END, ',') || '}' AS template,
                               string_agg(CASE WHEN e.typed THEN e.value::text END, ',') AS texts
                        FROM (SELECT j.key, j.value,
                                     CASE WHEN json_typeof(j.value) = 'number' AND length(j.value::text) < 38 AND strpos(lower(j.value::text), 'e') = 0
                                          THEN j.value::text::real::text = j.value::text ELSE false END AS typed
                              FROM json_each(CASE WHEN json_typeof(f."values") = 'object' THEN f."values" ELSE '{}' END) AS j(key, value)) e) t
                    WHERE t.texts IS NOT NULL AND format(t.template, VARIADIC string_to_array(t.texts, ',')) = f."values"::text) tv ON true),
            -- A chunk's template is the one most of its records share; the others keep their text.
            templated AS (
                SELECT t.*, first_value(t.template) OVER c AS piece_template, first_value(cardinality(string_to_array(t.texts, ','))) OVER c AS piece_reals
                FROM (SELECT y.*, count(*) OVER (PARTITION BY y.piece, y.template) AS template_n FROM typed y) t
                WINDOW c AS (PARTITION BY t.piece ORDER BY t.template IS NULL, t.template_n DESC, t.template)),
            written_chunks AS (
            INSERT INTO sample_chunks (site, epoch, stream, seq_first, n, time_first, device, batch, phase, spec, first_ns, step_ns, offsets,
                                       offsets_ns, cycle_first, cycles, "values", quality, raw, hashes, value_template, value_reals)
            SELECT f.site, f.epoch, f.stream, min(f.seq), count(*)::int, min(f.time), min(f.device), min(f.batch), min(f.phase), min(f.spec),
                   min(f.first_ns), min(f.step_ns),
                   CASE WHEN bool_and(f.time_ns - f.first_ns - (f.i - 1) * f.step_ns BETWEEN -2147483648 AND 2147483647)
                        THEN array_agg((f.time_ns - f.first_ns - (f.i - 1) * f.step_ns)::int ORDER BY f.seq) END,
                   CASE WHEN NOT bool_and(f.time_ns - f.first_ns - (f.i - 1) * f.step_ns BETWEEN -2147483648 AND 2147483647)
                        THEN array_agg(f.time_ns - f.first_ns ORDER BY f.seq) END,
                   min(f.cycle_first), array_agg((f.cycle - f.cycle_first - (f.i - 1))::int ORDER BY f.seq),
                   CASE WHEN bool_or(f.template IS DISTINCT FROM f.piece_template)
                        THEN array_agg(CASE WHEN f.template = f.piece_template THEN NULL ELSE f."values"::text END ORDER BY f.seq) END,
                   CASE WHEN bool_or(f.quality IS NOT NULL) THEN array_agg(f.quality::text ORDER BY f.seq) END,
                   CASE WHEN bool_or(f.raw IS NOT NULL) THEN array_agg(f.raw::text ORDER BY f.seq) END,
                   decode((array_agg(f.previous_hash ORDER BY f.seq))[1] || string_agg(f.hash, '' ORDER BY f.seq), 'hex'),
                   min(f.piece_template),
                   CASE WHEN min(f.piece_template) IS NOT NULL
                        THEN array_agg(CASE WHEN f.template = f.piece_template THEN ('{' || f.texts || '}')::real[]
                                            ELSE array_fill(NULL::real, ARRAY[f.piece_reals]) END ORDER BY f.seq) END
            FROM templated f
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
                c.first_ns, c.step_ns, c.offsets, c.offsets_ns, c.cycle_first, c.cycles, c."values", c.quality, c.raw, c.hashes,
                c.value_template, c.value_reals) r
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
        """
}
