/// 13: samples in one partition per calendar month (UTC), so a month of records can be written
/// out with its manifest and dropped (`pocare-control archive`), and brought back (`restore`).
///
/// PostgreSQL wants the partition key in every unique index, so the primary key becomes
/// (site, epoch, stream, seq, time). One record per number still holds: ingest locks the
/// stream's progress row before it inserts, and inserts a staged record only where no record of
/// that number is stored (`IngestWriter.insertStatement`); a differing copy is a dispute, as before.
///
/// The rows are moved inside the migration's transaction and proved moved: the count and an
/// order-independent checksum of every whole row before and after must agree, or the migration
/// fails and the database stays as it was.
enum SampleMonthsSchema {
    static let migrations: [String] = [partitionedSamples]

    static let partitionedSamples = """
        ALTER TABLE samples RENAME TO samples_unpartitioned;
        ALTER TABLE samples_unpartitioned RENAME CONSTRAINT samples_pkey TO samples_unpartitioned_pkey;
        DROP TRIGGER samples_change_records ON samples_unpartitioned;
        CREATE TABLE samples (LIKE samples_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)
            PARTITION BY RANGE (time);
        ALTER TABLE samples ADD PRIMARY KEY (site, epoch, stream, seq, time);
        -- Rows no month partition takes (a month being created by another instance, or a month
        -- archived while a late record of it arrived) are never refused for that: they wait here.
        CREATE TABLE samples_default PARTITION OF samples DEFAULT;
        CREATE TRIGGER samples_change_records AFTER UPDATE OR DELETE ON samples FOR EACH ROW EXECUTE FUNCTION batch_record_changed();
        -- Moving samples between partitions (a month made or restored takes its rows from the
        -- default partition) deletes and inserts the same rows: no record changes, so no signed
        -- batch is marked changed. Only deletes from the default partition while the function below
        -- moves them are passed over; every other change is marked, whatever a session sets.
        CREATE OR REPLACE FUNCTION batch_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'samples_default' AND TG_OP = 'DELETE' AND current_setting('pocare.moving_samples', true) = 'on' THEN
                RETURN NULL;
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
        -- Rows of the month that begins at `first_day` moved from the default partition into
        -- `name`; refused, moving nothing, when a number among them is stored there already.
        CREATE FUNCTION samples_move_from_default(name text, first_day timestamptz, next_day timestamptz) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            moved bigint;
            clash record;
        BEGIN
            -- Nothing is routed into the default partition while its rows move (ATTACH checks it after).
            LOCK TABLE samples_default IN ACCESS EXCLUSIVE MODE;
            EXECUTE format('SELECT d.site, d.stream, d.seq FROM samples_default d JOIN %I s ON s.site = d.site AND s.epoch = d.epoch '
                           'AND s.stream = d.stream AND s.seq = d.seq WHERE d.time >= %L AND d.time < %L LIMIT 1',
                           name, first_day, next_day) INTO clash;
            IF clash IS NOT NULL THEN
                RAISE EXCEPTION 'record % of % at % waits in the default partition and is also in %', clash.seq, clash.stream, clash.site, name;
            END IF;
            PERFORM set_config('pocare.moving_samples', 'on', true);
            EXECUTE format('WITH moved AS (DELETE FROM samples_default WHERE time >= %L AND time < %L RETURNING *) '
                           'INSERT INTO %I SELECT * FROM moved', first_day, next_day, name);
            GET DIAGNOSTICS moved = ROW_COUNT;
            PERFORM set_config('pocare.moving_samples', 'off', true);
            RETURN moved;
        END $$;

        -- A copy of an archived record set aside by ingest is compared once, when its month is restored.
        ALTER TABLE records_set_aside ADD COLUMN compared timestamptz;

        -- Months written out and dropped, with what their manifest proves.
        CREATE TABLE archived_months (
            month         date PRIMARY KEY,        -- the first day of the month (UTC)
            archived      timestamptz NOT NULL DEFAULT now(),
            archived_by   text NOT NULL,
            location      text NOT NULL,           -- the directory written, as given
            manifest_sha256 text NOT NULL,
            samples       bigint NOT NULL
        );
        -- The numbers of each stream that an archived month holds: ingest sets aside a late copy
        -- of one (it cannot be compared with a record that is not here), and a batch whose runs
        -- reach into one is shown as archived instead of being hashed without them.
        CREATE TABLE archived_ranges (
            month     date NOT NULL REFERENCES archived_months ON DELETE CASCADE,
            site      text NOT NULL,
            epoch     text NOT NULL,
            stream    text NOT NULL,
            seq_from  bigint NOT NULL,
            seq_to    bigint NOT NULL,
            samples   bigint NOT NULL,
            -- The chain's anchors at the range's ends, so a walk of the stream links across it.
            first_previous_hash text,
            last_hash text,
            PRIMARY KEY (site, epoch, stream, seq_from)
        );

        -- The partition of the month that begins at `month_start` (UTC), created if missing and
        -- not archived; rows of that month waiting in samples_default are moved into it. Returns
        -- the partition's name, or NULL for an archived month.
        CREATE FUNCTION samples_month_partition(month_start timestamptz) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE
            first_day timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
            next_day timestamptz := (date_trunc('month', month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
            name text := 'samples_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
        BEGIN
            IF to_regclass(name) IS NOT NULL THEN RETURN name; END IF;
            -- One creator at a time; the others find it made. Looked up by a query, whose snapshot
            -- is taken after the lock, not by to_regclass, whose catalog view may predate it.
            PERFORM pg_advisory_xact_lock(7146353);
            IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = name
                       AND c.relnamespace = (SELECT p.relnamespace FROM pg_class p WHERE p.oid = 'samples'::regclass)) THEN
                RETURN name;
            END IF;
            IF EXISTS (SELECT 1 FROM archived_months WHERE month = (first_day AT TIME ZONE 'UTC')::date) THEN RETURN NULL; END IF;
            EXECUTE format('CREATE TABLE %I (LIKE samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', name);
            EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (site, epoch, stream, seq, time)', name);
            PERFORM samples_move_from_default(name, first_day, next_day);
            EXECUTE format('ALTER TABLE samples ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, first_day, next_day);
            RETURN name;
        END $$;

        DO $$
        DECLARE
            month timestamptz;
            before_count bigint; before_sum numeric;
            after_count bigint; after_sum numeric;
        BEGIN
            SELECT count(*), coalesce(sum(hashtextextended(s::text, 0)::numeric), 0) INTO before_count, before_sum
            FROM samples_unpartitioned s;
            FOR month IN SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM samples_unpartitioned LOOP
                PERFORM samples_month_partition(month);
            END LOOP;
            INSERT INTO samples SELECT * FROM samples_unpartitioned;
            SELECT count(*), coalesce(sum(hashtextextended(s::text, 0)::numeric), 0) INTO after_count, after_sum FROM samples s;
            IF before_count <> after_count OR before_sum <> after_sum THEN
                RAISE EXCEPTION 'samples moved into month partitions do not match: % rows (checksum %) before, % (checksum %) after',
                    before_count, before_sum, after_count, after_sum;
            END IF;
            RAISE NOTICE 'samples moved into month partitions: % rows, checksum % before and after', after_count, after_sum;
        END $$;
        DROP TABLE samples_unpartitioned;
        """
}
