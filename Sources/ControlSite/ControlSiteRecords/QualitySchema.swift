/// The quality system's tables (docs/control-site.md, "The quality system"): the POC Master
/// File, change control, deviations and signed comparisons. The rules that make them state
/// machines live here too, as constraints and triggers, so no client (a page, a command, a
/// hand-written statement) can move a record in a way the rules forbid; the Swift side checks
/// the same rules first to give a clear answer, and the database refuses what slips past it.
enum QualitySchema {
    static let migrations: [String] = [masterFileAndChanges, disposition, recordVersions]

    static let masterFileAndChanges = """
        -- Change control: every change to the Master File and the released-spec register is a
        -- change record; it takes effect only when a second person approves it.
        CREATE TABLE changes (
            id                   bigserial PRIMARY KEY,     -- shown as CC-{id}
            kind                 text NOT NULL,
            site                 text,                      -- the site concerned, if any
            target               text NOT NULL,             -- what changes: a fingerprint, a device, an account
            summary              text NOT NULL,             -- what changes, in words
            payload              jsonb NOT NULL,            -- the change's content, applied when approved
            reason               text NOT NULL CHECK (length(btrim(reason)) > 0),
            content_hash         text NOT NULL,             -- SHA-256 of the content an approver signs
            state                text NOT NULL DEFAULT 'proposed'
                                 CHECK (state IN ('proposed', 'approved', 'rejected', 'withdrawn')),
            requested_by         text NOT NULL REFERENCES web_users (user_name),
            requested_full_name  text NOT NULL,
            requested            timestamptz NOT NULL DEFAULT now(),
            decided_by           text REFERENCES web_users (user_name),
            decided_full_name    text,
            decided              timestamptz,
            decision_comment     text,
            effective            timestamptz,
            CHECK ((state = 'proposed') = (decided IS NULL)),
            CHECK (state = 'proposed' OR decided_by IS NOT NULL),
            -- The requester never approves or rejects their own change; only they withdraw it.
            CHECK (state NOT IN ('approved', 'rejected') OR decided_by <> requested_by),
            CHECK (state <> 'withdrawn' OR decided_by = requested_by),
            CHECK ((state = 'approved') = (effective IS NOT NULL))
        );
        CREATE UNIQUE INDEX changes_one_open_per_target ON changes (kind, coalesce(site, ''), target) WHERE state = 'proposed';

        -- A change's content never changes, and it is decided once.
        CREATE FUNCTION changes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (NEW.kind, NEW.site, NEW.target, NEW.summary, NEW.payload, NEW.reason, NEW.content_hash,
                NEW.requested_by, NEW.requested)
               IS DISTINCT FROM
               (OLD.kind, OLD.site, OLD.target, OLD.summary, OLD.payload, OLD.reason, OLD.content_hash,
                OLD.requested_by, OLD.requested) THEN
                RAISE EXCEPTION 'change CC-%: a change record''s content cannot be edited', OLD.id USING ERRCODE = 'P0001';
            END IF;
            IF OLD.state <> 'proposed' THEN
                RAISE EXCEPTION 'change CC-% is % already', OLD.id, OLD.state USING ERRCODE = 'P0001';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER changes_guard BEFORE UPDATE ON changes FOR EACH ROW EXECUTE FUNCTION changes_guard();
        CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% rows are kept for good', TG_TABLE_NAME USING ERRCODE = 'P0001';
        END $$;
        CREATE TRIGGER changes_kept BEFORE DELETE ON changes FOR EACH ROW EXECUTE FUNCTION refuse_delete();

        -- The POC Master File: one row per site, as the approved changes left it.
        CREATE TABLE master_sites (
            site                  text PRIMARY KEY,
            name                  text NOT NULL,
            role                  text NOT NULL CHECK (role IN ('reference', 'additional')),
            site_lead             text NOT NULL,
            qa_contact            text NOT NULL,
            required_batches      int NOT NULL CHECK (required_batches BETWEEN 1 AND 20),
            qualification         text NOT NULL
                                  CHECK (qualification IN ('not_qualified', 'in_qualification', 'qualified', 'suspended')),
            qualification_since   timestamptz NOT NULL,
            qualification_reason  text NOT NULL,
            registered            timestamptz NOT NULL,
            change_id             bigint NOT NULL REFERENCES changes (id)
        );
        -- One reference site: the standard every other site is compared with.
        CREATE UNIQUE INDEX master_sites_one_reference ON master_sites (role) WHERE role = 'reference';

        -- Every qualification state a site has been in, from when, and what decided it.
        CREATE TABLE qualification_history (
            id         bigserial PRIMARY KEY,
            site       text NOT NULL REFERENCES master_sites (site),
            state      text NOT NULL,
            since      timestamptz NOT NULL,
            reason     text NOT NULL,
            change_id  bigint REFERENCES changes (id),   -- a change decided it; NULL: the evidence did
            evidence   jsonb
        );
        CREATE INDEX qualification_history_by_site ON qualification_history (site, since);
        CREATE FUNCTION master_sites_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' OR NEW.qualification IS DISTINCT FROM OLD.qualification THEN
                INSERT INTO qualification_history (site, state, since, reason, change_id, evidence)
                VALUES (NEW.site, NEW.qualification, NEW.qualification_since, NEW.qualification_reason,
                        CASE WHEN nullif(current_setting('pocare.qualification_evidence', true), '') IS NULL THEN NEW.change_id END,
                        nullif(current_setting('pocare.qualification_evidence', true), '')::jsonb);
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER master_sites_history AFTER INSERT OR UPDATE ON master_sites FOR EACH ROW EXECUTE FUNCTION master_sites_history();
        CREATE TRIGGER master_sites_kept BEFORE DELETE ON master_sites FOR EACH ROW EXECUTE FUNCTION refuse_delete();

        CREATE TABLE registered_equipment (
            id                   bigserial PRIMARY KEY,
            site                 text NOT NULL REFERENCES master_sites (site),
            device               text NOT NULL,
            profile              text NOT NULL,            -- the equipment model
            profile_fingerprint  text NOT NULL,
            serial_number        text,
            firmware_version     text,
            registered           timestamptz NOT NULL,
            registered_change    bigint NOT NULL REFERENCES changes (id),
            retired              timestamptz,
            retired_change       bigint REFERENCES changes (id),
            CHECK ((retired IS NULL) = (retired_change IS NULL))
        );
        CREATE UNIQUE INDEX registered_equipment_current ON registered_equipment (site, device) WHERE retired IS NULL;

        -- The people who may operate and review at each site, with their GxP training date.
        CREATE TABLE site_personnel (
            id                 bigserial PRIMARY KEY,
            site               text NOT NULL REFERENCES master_sites (site),
            person             text NOT NULL,
            account            text NOT NULL,        -- the person's account at the site
            role               text NOT NULL CHECK (role IN ('operator', 'reviewer', 'supervisor')),
            training_date      date NOT NULL,
            registered         timestamptz NOT NULL,
            registered_change  bigint NOT NULL REFERENCES changes (id),
            training_change    bigint REFERENCES changes (id),
            retired            timestamptz,
            retired_change     bigint REFERENCES changes (id),
            CHECK ((retired IS NULL) = (retired_change IS NULL))
        );
        CREATE UNIQUE INDEX site_personnel_current ON site_personnel (site, account) WHERE retired IS NULL;

        -- Released specs: which approved change released or retired each one.
        ALTER TABLE released_specs ADD COLUMN release_change bigint REFERENCES changes (id);
        ALTER TABLE released_specs ADD COLUMN retire_change bigint REFERENCES changes (id);
        ALTER TABLE released_specs ADD COLUMN profiles text[];   -- the equipment models the spec is written for

        -- Deviations: what went wrong, where, its classification, investigation and closure.
        CREATE TABLE deviations (
            id                bigserial PRIMARY KEY,     -- shown as DEV-{id}
            site              text NOT NULL,
            source            text NOT NULL CHECK (source IN ('excursion', 'unacknowledged_alarm', 'unmonitored_time',
                                  'integrity', 'unregistered_equipment', 'spec_not_released', 'suspended_site',
                                  'untrained_operator', 'manual')),
            group_key         text,                      -- what an automatic deviation gathers
            title             text NOT NULL,
            description       text NOT NULL,
            classification    text CHECK (classification IN ('minor', 'major', 'critical')),
            investigation     text NOT NULL DEFAULT '',
            root_cause        text NOT NULL DEFAULT '',
            capa              text NOT NULL DEFAULT '',
            state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'under_investigation', 'closed')),
            version           int NOT NULL DEFAULT 1,    -- raised by every change; a signature names the version it saw
            opened            timestamptz NOT NULL DEFAULT now(),
            opened_by         text NOT NULL,
            closed            timestamptz,
            closed_by         text REFERENCES web_users (user_name),
            closed_full_name  text,
            close_comment     text,
            closed_hash       text,                      -- SHA-256 of the deviation's content as signed
            CHECK ((state = 'closed') = (closed IS NOT NULL)),
            CHECK (state <> 'closed' OR (closed_by IS NOT NULL AND closed_hash IS NOT NULL
                                         AND length(btrim(investigation)) > 0 AND length(btrim(root_cause)) > 0)),
            CHECK (state = 'open' OR classification IS NOT NULL),
            CHECK (state <> 'closed' OR classification = 'minor' OR length(btrim(capa)) > 0)
        );
        CREATE UNIQUE INDEX deviations_one_open_per_group ON deviations (group_key) WHERE state <> 'closed' AND group_key IS NOT NULL;
        CREATE INDEX deviations_by_site ON deviations (site, state);

        -- States move forward only (open -> under_investigation -> closed); a closed deviation never changes.
        CREATE FUNCTION deviations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.state = 'closed' THEN
                RAISE EXCEPTION 'deviation DEV-% is closed and cannot change', OLD.id USING ERRCODE = 'P0001';
            END IF;
            IF (OLD.state, NEW.state) NOT IN (('open', 'open'), ('open', 'under_investigation'),
                                              ('under_investigation', 'under_investigation'), ('under_investigation', 'closed')) THEN
                RAISE EXCEPTION 'deviation DEV-%: % cannot become %', OLD.id, OLD.state, NEW.state USING ERRCODE = 'P0001';
            END IF;
            IF (NEW.id, NEW.site, NEW.source, NEW.group_key, NEW.opened, NEW.opened_by)
               IS DISTINCT FROM (OLD.id, OLD.site, OLD.source, OLD.group_key, OLD.opened, OLD.opened_by) THEN
                RAISE EXCEPTION 'deviation DEV-%: where and why it was opened cannot change', OLD.id USING ERRCODE = 'P0001';
            END IF;
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END $$;
        CREATE TRIGGER deviations_guard BEFORE UPDATE ON deviations FOR EACH ROW EXECUTE FUNCTION deviations_guard();
        CREATE TRIGGER deviations_kept BEFORE DELETE ON deviations FOR EACH ROW EXECUTE FUNCTION refuse_delete();

        CREATE TABLE deviation_batches (
            deviation_id  bigint NOT NULL REFERENCES deviations (id),
            site          text NOT NULL,
            batch         text NOT NULL,
            PRIMARY KEY (deviation_id, site, batch)
        );
        CREATE INDEX deviation_batches_by_batch ON deviation_batches (site, batch);

        -- Each piece of evidence belongs to one deviation, so nothing opens twice.
        CREATE TABLE deviation_evidence (
            evidence_key  text PRIMARY KEY,
            deviation_id  bigint NOT NULL REFERENCES deviations (id),
            kind          text NOT NULL,
            time          timestamptz,
            detail        text NOT NULL,
            link          text,
            added         timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX deviation_evidence_by_deviation ON deviation_evidence (deviation_id);
        CREATE FUNCTION deviation_attachment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM deviations WHERE id = NEW.deviation_id AND state = 'closed') THEN
                RAISE EXCEPTION 'deviation DEV-% is closed: nothing is added to it', NEW.deviation_id USING ERRCODE = 'P0001';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER deviation_evidence_guard BEFORE INSERT OR UPDATE ON deviation_evidence
            FOR EACH ROW EXECUTE FUNCTION deviation_attachment_guard();
        CREATE TRIGGER deviation_batches_guard BEFORE INSERT OR UPDATE ON deviation_batches
            FOR EACH ROW EXECUTE FUNCTION deviation_attachment_guard();
        CREATE TRIGGER deviation_evidence_kept BEFORE DELETE ON deviation_evidence FOR EACH ROW EXECUTE FUNCTION refuse_delete();
        CREATE TRIGGER deviation_batches_kept BEFORE DELETE ON deviation_batches FOR EACH ROW EXECUTE FUNCTION refuse_delete();

        -- The registers sites enforce (register_versions, migration 7) come only from approved
        -- changes: a register of one site (its personnel) names its site, a register of every
        -- site (the released specs) has site ''; each version made by an approval names the change.
        ALTER TABLE register_versions ADD COLUMN site text NOT NULL DEFAULT '';
        ALTER TABLE register_versions ADD COLUMN change_id bigint REFERENCES changes (id);
        ALTER TABLE register_versions DROP CONSTRAINT register_versions_pkey;
        ALTER TABLE register_versions ADD PRIMARY KEY (kind, site, version);
        CREATE TRIGGER register_versions_kept BEFORE DELETE ON register_versions FOR EACH ROW EXECUTE FUNCTION refuse_delete();
        """

    /// Batch disposition: QA's review, then the QP's certification or rejection, withdrawable;
    /// the order and the second person are the database's rules too, and a record that changes
    /// after signing is marked at once (what the batches list reads).
    static let disposition = """
        UPDATE batch_signatures SET meaning = 'certified' WHERE meaning = 'approved for release';
        ALTER TABLE batch_signatures DROP CONSTRAINT batch_signatures_meaning_check;
        ALTER TABLE batch_signatures ADD CONSTRAINT batch_signatures_meaning_check CHECK (meaning IN ('reviewed', 'certified', 'rejected'));
        ALTER TABLE batch_signatures ADD COLUMN withdrawn timestamptz;
        ALTER TABLE batch_signatures ADD COLUMN withdrawn_by text REFERENCES web_users (user_name);
        ALTER TABLE batch_signatures ADD COLUMN withdrawn_full_name text;
        ALTER TABLE batch_signatures ADD COLUMN withdraw_reason text;
        ALTER TABLE batch_signatures ADD CONSTRAINT batch_signatures_withdrawal
            CHECK ((withdrawn IS NULL) = (withdrawn_by IS NULL) AND (withdrawn IS NULL OR meaning = 'certified'));

        -- Who may sign what, in which order: QA (or a QP) reviews; a QP other than the reviewer
        -- certifies or rejects what was reviewed, against the same record; one of each stands.
        CREATE FUNCTION batch_signatures_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'batch signatures are kept for good' USING ERRCODE = 'P0001';
            END IF;
            IF TG_OP = 'UPDATE' THEN
                IF (NEW.site, NEW.batch, NEW.user_name, NEW.full_name, NEW.role, NEW.meaning, NEW.comment, NEW.signed, NEW.record_hash)
                   IS DISTINCT FROM
                   (OLD.site, OLD.batch, OLD.user_name, OLD.full_name, OLD.role, OLD.meaning, OLD.comment, OLD.signed, OLD.record_hash)
                   OR OLD.withdrawn IS NOT NULL THEN
                    RAISE EXCEPTION 'a signature cannot be changed; a certification can be withdrawn once' USING ERRCODE = 'P0001';
                END IF;
                RETURN NEW;
            END IF;
            IF NEW.meaning = 'reviewed' THEN
                IF NEW.role NOT IN ('qa', 'qp') THEN
                    RAISE EXCEPTION 'a % does not review batch records', NEW.role USING ERRCODE = 'P0001';
                END IF;
                IF EXISTS (SELECT 1 FROM batch_signatures s WHERE s.site = NEW.site AND s.batch = NEW.batch AND s.meaning = 'reviewed'
                           AND s.record_hash = NEW.record_hash) THEN
                    RAISE EXCEPTION 'batch % at %: a QA review of this record stands already', NEW.batch, NEW.site USING ERRCODE = 'P0001';
                END IF;
            ELSE
                IF NEW.role <> 'qp' THEN
                    RAISE EXCEPTION 'only a QP signs a batch as %', NEW.meaning USING ERRCODE = 'P0001';
                END IF;
                IF NOT EXISTS (SELECT 1 FROM batch_signatures s WHERE s.site = NEW.site AND s.batch = NEW.batch AND s.meaning = 'reviewed'
                               AND s.record_hash = NEW.record_hash) THEN
                    RAISE EXCEPTION 'batch % at %: QA reviews the record before the QP', NEW.batch, NEW.site USING ERRCODE = 'P0001';
                END IF;
                IF EXISTS (SELECT 1 FROM batch_signatures s WHERE s.site = NEW.site AND s.batch = NEW.batch AND s.meaning = 'reviewed'
                           AND s.record_hash = NEW.record_hash AND s.user_name = NEW.user_name) THEN
                    RAISE EXCEPTION 'batch % at %: the QP who reviewed the record does not also certify or reject it', NEW.batch, NEW.site
                        USING ERRCODE = 'P0001';
                END IF;
                IF EXISTS (SELECT 1 FROM batch_signatures s WHERE s.site = NEW.site AND s.batch = NEW.batch AND s.record_hash = NEW.record_hash
                           AND s.meaning IN ('certified', 'rejected') AND s.withdrawn IS NULL) THEN
                    RAISE EXCEPTION 'batch % at %: a disposition of this record stands already', NEW.batch, NEW.site USING ERRCODE = 'P0001';
                END IF;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER batch_signatures_guard BEFORE INSERT OR UPDATE OR DELETE ON batch_signatures
            FOR EACH ROW EXECUTE FUNCTION batch_signatures_guard();

        -- The disposition of each signed batch, as the list shows it; record_changed is set by
        -- the database the moment the batch's record changes after a signature.
        CREATE TABLE batch_dispositions (
            site            text NOT NULL,
            batch           text NOT NULL,
            state           text NOT NULL CHECK (state IN ('ended', 'qa_reviewed', 'certified', 'rejected')),
            record_hash     text NOT NULL,
            since           timestamptz NOT NULL DEFAULT now(),
            record_changed  timestamptz,
            PRIMARY KEY (site, batch)
        );
        CREATE FUNCTION batch_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.batch IS NOT NULL THEN
                UPDATE batch_dispositions SET record_changed = now()
                WHERE site = OLD.site AND batch = OLD.batch AND record_changed IS NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.batch IS NOT NULL THEN
                UPDATE batch_dispositions SET record_changed = now()
                WHERE site = NEW.site AND batch = NEW.batch AND record_changed IS NULL;
            END IF;
            RETURN NULL;
        END $$;
        -- Samples reach a batch's record only through batch_runs (ingest widens the run), so an
        -- insert is seen there; a sample changed or removed in place is seen on samples itself.
        CREATE TRIGGER samples_change_records AFTER UPDATE OR DELETE ON samples FOR EACH ROW EXECUTE FUNCTION batch_record_changed();
        CREATE TRIGGER events_change_records AFTER INSERT OR UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION batch_record_changed();
        CREATE TRIGGER batch_runs_change_records AFTER INSERT OR UPDATE OR DELETE ON batch_runs
            FOR EACH ROW EXECUTE FUNCTION batch_record_changed();
        -- Found by the events of a batch's kind, for the review and the deviation scan.
        CREATE INDEX events_records_by_kind ON events (kind) WHERE kind IN ('excursion', 'batch_record');
        """

    /// 11: a row per batch that every change of its record takes (through the trigger above,
    /// and disputes of its records), so a signature holds that one batch's record still from
    /// its review to its signature while other batches' records keep arriving.
    static let recordVersions = """
        CREATE TABLE batch_record_versions (
            site     text NOT NULL,
            batch    text NOT NULL,
            version  bigint NOT NULL DEFAULT 1,
            PRIMARY KEY (site, batch)
        );
        INSERT INTO batch_record_versions (site, batch)
            SELECT site, batch FROM batch_runs UNION SELECT site, batch FROM events WHERE batch IS NOT NULL;
        CREATE FUNCTION batch_record_touch(site text, batch text) RETURNS void LANGUAGE sql AS $$
            INSERT INTO batch_record_versions (site, batch) VALUES (site, batch)
            ON CONFLICT ON CONSTRAINT batch_record_versions_pkey DO UPDATE SET version = batch_record_versions.version + 1
        $$;
        CREATE OR REPLACE FUNCTION batch_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
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
        CREATE FUNCTION batch_record_disputed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE b text;
        BEGIN
            FOREACH b IN ARRAY NEW.batches LOOP PERFORM batch_record_touch(NEW.site, b); END LOOP;
            RETURN NULL;
        END $$;
        CREATE TRIGGER record_disputes_change_records AFTER INSERT OR UPDATE ON record_disputes
            FOR EACH ROW EXECUTE FUNCTION batch_record_disputed();
        """
}
