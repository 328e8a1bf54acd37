import Logging

/// The Control Site database, as forward migrations. `schema_migrations` holds each version
/// applied; a database written by a newer version is refused rather than guessed at. Several
/// instances may start at once: an advisory lock lets one migrate while the others wait.
public enum ControlSchema {
    static let migrations: [String] = [
        // 1: the first schema.
        """
        CREATE TABLE sites (
            site              text PRIMARY KEY,
            state             text,            -- online / offline, from the retained status or last will
            version           text,
            epoch             text,            -- the site store's epoch, when the contract states it
            status            jsonb,
            status_time       timestamptz,
            status_received   timestamptz,
            first_seen        timestamptz NOT NULL DEFAULT now()
            -- when records last arrived, and the newest record's time, are its streams'
        );

        CREATE TABLE site_devices (
            site       text NOT NULL,
            device     text NOT NULL,
            profile    text,
            batch      text,
            phase      text,
            spec       text,
            reachable  boolean,
            updated    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (site, device)
        );

        -- Per stream: every number up to contiguous has arrived; gaps lie between it and highest.
        CREATE TABLE streams (
            site              text NOT NULL,
            epoch             text NOT NULL,
            stream            text NOT NULL,
            device            text,
            kind              text NOT NULL,
            contiguous        bigint NOT NULL DEFAULT 0,
            highest           bigint NOT NULL DEFAULT 0,
            records           bigint NOT NULL DEFAULT 0,
            duplicates        bigint NOT NULL DEFAULT 0,
            last_received     timestamptz,
            last_record_time  timestamptz,
            PRIMARY KEY (site, epoch, stream)
        );

        CREATE TABLE gaps (
            site      text NOT NULL,
            epoch     text NOT NULL,
            stream    text NOT NULL,
            seq_from  bigint NOT NULL,
            seq_to    bigint NOT NULL,
            opened    timestamptz NOT NULL,
            PRIMARY KEY (site, epoch, stream, seq_from)
        );

        -- The sample's fields as columns; hash and previous_hash come with a later contract version.
        CREATE TABLE samples (
            site          text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            seq           bigint NOT NULL,
            device        text NOT NULL,
            time          timestamptz NOT NULL,
            cycle         bigint,
            batch         text,
            phase         text,
            spec          text,
            "values"      json NOT NULL,   -- as sent: validated, not converted (the cost of a backlog)
            quality       json,            -- only the parameters not read well, as sent
            hash          text,
            previous_hash text,
            PRIMARY KEY (site, epoch, stream, seq)
        );
        -- No secondary index: a batch's samples are read by their key, through batch_runs' numbers,
        -- so each insert maintains one index only.

        CREATE TABLE events (
            site          text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            seq           bigint NOT NULL,
            device        text,
            time          timestamptz NOT NULL,
            kind          text NOT NULL,
            batch         text,
            phase         text,
            spec          text,
            record        jsonb NOT NULL,
            hash          text,
            previous_hash text,
            PRIMARY KEY (site, epoch, stream, seq)
        );
        CREATE INDEX events_by_batch ON events (site, batch) WHERE batch IS NOT NULL;

        CREATE TABLE audit_entries (
            site          text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            seq           bigint NOT NULL,
            time          timestamptz NOT NULL,
            user_name     text,
            action        text,
            target        text,
            record        jsonb NOT NULL,
            hash          text,
            previous_hash text,
            PRIMARY KEY (site, epoch, stream, seq)
        );

        -- What each device ran: one row per batch, spec and phase, widened as samples arrive.
        CREATE TABLE batch_runs (
            site        text NOT NULL,
            device      text NOT NULL,
            batch       text NOT NULL,
            spec        text NOT NULL,   -- '' when the samples named none
            phase       text NOT NULL,   -- '' when the samples named none
            stream      text NOT NULL,
            epoch       text NOT NULL,
            first_time  timestamptz NOT NULL,
            last_time   timestamptz NOT NULL,
            first_seq   bigint NOT NULL,
            last_seq    bigint NOT NULL,
            samples     bigint NOT NULL,
            PRIMARY KEY (site, device, batch, spec, phase, epoch, stream)
        );
        CREATE INDEX batch_runs_by_spec ON batch_runs (spec, phase);

        CREATE TABLE integrity_findings (
            id           bigserial PRIMARY KEY,
            kind         text NOT NULL,   -- gap, conflicting_duplicate, chain_break, epoch_change, malformed
            site         text NOT NULL,
            epoch        text NOT NULL DEFAULT '',
            stream       text NOT NULL DEFAULT '',
            seq_from     bigint,
            seq_to       bigint,
            detail       text NOT NULL,
            found        timestamptz NOT NULL DEFAULT now(),
            last_seen    timestamptz NOT NULL DEFAULT now(),
            occurrences  bigint NOT NULL DEFAULT 1,
            resolved     timestamptz
        );
        CREATE UNIQUE INDEX integrity_findings_once
            ON integrity_findings (kind, site, epoch, stream, seq_from, seq_to) NULLS NOT DISTINCT;

        -- QA's register of released specs.
        CREATE TABLE released_specs (
            fingerprint     text PRIMARY KEY,
            product         text NOT NULL,
            document        text NOT NULL,
            version         text NOT NULL,
            approved_by     text NOT NULL,
            approval_date   text NOT NULL,
            spec_text       text NOT NULL,
            released        timestamptz NOT NULL,
            released_by     text NOT NULL,
            release_reason  text NOT NULL,
            retired         timestamptz,
            retired_by      text,
            retire_reason   text
        );

        -- The Control Site's own audit trail: every QA action, SHA-256 hash-chained.
        CREATE TABLE control_audit (
            seq            bigint PRIMARY KEY,
            time_ns        bigint NOT NULL,
            user_name      text NOT NULL,
            action         text NOT NULL,
            target         text NOT NULL,
            reason         text,
            old_value      text,
            new_value      text,
            previous_hash  text NOT NULL,
            hash           text NOT NULL
        );
        """,
        // 2: replay requests to sites, so completeness survives a crash of any instance.
        """
        -- Every request this Control Site sent a site, and the site's answer. Any instance may
        -- receive the answer (shared subscription), so the state lives here, not in memory.
        CREATE TABLE replay_requests (
            id              text PRIMARY KEY,   -- echoed by the site in its answers
            site            text NOT NULL,
            epoch           text NOT NULL,
            stream          text NOT NULL,
            seq_from        bigint NOT NULL,
            seq_to          bigint NOT NULL,
            cause           text NOT NULL,      -- gap (a persistent gap) or tail (restart, first meeting, new epoch)
            attempt         int NOT NULL,       -- 1 the first time this range is asked for
            requested       timestamptz NOT NULL DEFAULT now(),
            requested_by    text NOT NULL,      -- the instance's MQTT client id
            state           text NOT NULL DEFAULT 'sent',  -- sent, accepted, done, refused
            answered        timestamptz,
            sending_from    bigint,
            sending_to      bigint,
            pruned_through  bigint,
            reason          text
        );
        CREATE INDEX replay_requests_by_stream ON replay_requests (site, epoch, stream, requested);

        -- Numbers up to here the site can no longer send (pruned, or its store replaced): never asked for again.
        ALTER TABLE streams ADD COLUMN unrecoverable_through bigint NOT NULL DEFAULT 0;
        """,
        // 3: the web pages: who may sign in, their sessions and sign-in attempts, and the signatures
        // of batch reviews (21 CFR 11.50, 11.70, 11.200).
        """
        CREATE TABLE web_users (
            user_name      text PRIMARY KEY,
            full_name      text NOT NULL,
            role           text NOT NULL CHECK (role IN ('viewer', 'qa', 'qp')),
            password_hash  text NOT NULL,    -- pbkdf2-sha256$iterations$salt$hash (hex)
            disabled       timestamptz,
            created        timestamptz NOT NULL DEFAULT now(),
            password_set   timestamptz NOT NULL DEFAULT now()
        );

        -- A session is found by the SHA-256 of its cookie, so the table alone signs nobody in.
        CREATE TABLE web_sessions (
            token_hash     text PRIMARY KEY,
            user_name      text NOT NULL REFERENCES web_users (user_name),
            csrf_token     text NOT NULL,
            created        timestamptz NOT NULL,
            last_seen      timestamptz NOT NULL,
            address        text NOT NULL
        );

        CREATE TABLE web_login_attempts (
            id         bigserial PRIMARY KEY,
            time       timestamptz NOT NULL DEFAULT now(),
            user_name  text NOT NULL,
            address    text NOT NULL,
            succeeded  boolean NOT NULL
        );
        CREATE INDEX web_login_attempts_recent ON web_login_attempts (time);

        CREATE TABLE batch_signatures (
            id           bigserial PRIMARY KEY,
            site         text NOT NULL,
            batch        text NOT NULL,
            user_name    text NOT NULL REFERENCES web_users (user_name),
            full_name    text NOT NULL,
            role         text NOT NULL,
            meaning      text NOT NULL CHECK (meaning IN ('reviewed', 'approved for release', 'rejected')),
            comment      text NOT NULL,
            signed       timestamptz NOT NULL,
            record_hash  text NOT NULL       -- SHA-256 of the batch record's canonical bytes when signed
        );
        CREATE INDEX batch_signatures_by_batch ON batch_signatures (site, batch);
        """,
        // 4: what sites publish about themselves, retained: device metadata and spec documents.
        """
        -- Each device's metadata as last published (names, units, types, enumeration labels), and
        -- whether its bytes hash to the fingerprint it names. metadata is NULL once the site cleared it.
        CREATE TABLE device_metadata (
            site         text NOT NULL,
            device       text NOT NULL,
            fingerprint  text,
            verified     boolean NOT NULL,
            metadata     jsonb,
            received     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (site, device)
        );

        -- Every spec a site published under its fingerprint; computed is the SHA-256 of the
        -- canonical form it carries, so a document that does not hash to its name is kept and shown.
        CREATE TABLE published_specs (
            site         text NOT NULL,
            fingerprint  text NOT NULL,
            computed     text NOT NULL,
            verified     boolean NOT NULL,
            document     jsonb NOT NULL,
            received     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (site, fingerprint)
        );
        """,
        // 5: comparison reports kept for QA's signature (docs/control-site.md, "Stored comparisons").
        """
        -- A comparison report as stored: its canonical JSON exactly as hashed, never changed.
        CREATE TABLE comparison_reports (
            id              bigserial PRIMARY KEY,
            created         timestamptz NOT NULL DEFAULT now(),
            created_by      text NOT NULL,
            kind            text NOT NULL CHECK (kind IN ('qualification', 'yearly')),
            spec            text NOT NULL,
            profile         text NOT NULL,
            phase           text NOT NULL,
            reference       text NOT NULL,
            verdicts        jsonb NOT NULL,   -- {test site: comparable | not comparable | not judged}
            method_version  text NOT NULL,
            report          text NOT NULL,    -- canonical JSON (keys sorted), the bytes hashed
            report_hash     text NOT NULL     -- SHA-256 of report, hex
        );
        CREATE FUNCTION comparison_reports_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a stored comparison report is never changed or deleted';
        END $$;
        CREATE TRIGGER comparison_reports_unchanged BEFORE UPDATE OR DELETE ON comparison_reports
            FOR EACH ROW EXECUTE FUNCTION comparison_reports_unchanged();

        -- QA's signature of a stored comparison, bound to the report's hash when signed.
        CREATE TABLE comparison_signatures (
            id           bigserial PRIMARY KEY,
            report_id    bigint NOT NULL REFERENCES comparison_reports (id),
            user_name    text NOT NULL REFERENCES web_users (user_name),
            full_name    text NOT NULL,
            role         text NOT NULL,
            meaning      text NOT NULL CHECK (meaning IN ('approved', 'rejected')),
            comment      text NOT NULL,
            signed       timestamptz NOT NULL,
            report_hash  text NOT NULL
        );
        CREATE INDEX comparison_signatures_by_report ON comparison_signatures (report_id);
        """,
        // 6: what ingest refuses, holds aside and finds disputed (docs/control-site.md, "What ingest refuses").
        """
        -- Messages that are not the contract's or name no registered site: kept apart from every
        -- site's findings, once per claimed site and topic, with how often and the latest reason.
        CREATE TABLE refused_messages (
            id            bigserial PRIMARY KEY,
            claimed_site  text NOT NULL,
            topic         text NOT NULL,
            reason        text NOT NULL,
            bytes         bigint NOT NULL,
            excerpt       text NOT NULL,
            first_seen    timestamptz NOT NULL DEFAULT now(),
            last_seen     timestamptz NOT NULL DEFAULT now(),
            occurrences   bigint NOT NULL DEFAULT 1,
            UNIQUE (claimed_site, topic)
        );

        -- Records of a device the site's births never named, or with values its metadata does not
        -- name: kept as sent, never a batch, released when a birth or metadata names them.
        CREATE TABLE held_messages (
            id        bigserial PRIMARY KEY,
            site      text NOT NULL,
            device    text NOT NULL,
            epoch     text NOT NULL,
            stream    text NOT NULL,
            seq_from  bigint NOT NULL,
            seq_to    bigint NOT NULL,
            reason    text NOT NULL,
            payload   bytea NOT NULL,
            digest    text NOT NULL,
            received  timestamptz NOT NULL DEFAULT now(),
            released  timestamptz,
            UNIQUE (site, stream, digest)
        );
        CREATE INDEX held_messages_waiting ON held_messages (site, device) WHERE released IS NULL;

        -- The lowest number of a stream that arrived with a hash: above it, a record without one is a chain break.
        ALTER TABLE streams ADD COLUMN first_hashed bigint;

        -- Every version of a record that arrived in two differing copies, kept whole.
        CREATE TABLE record_versions (
            site      text NOT NULL,
            epoch     text NOT NULL,
            stream    text NOT NULL,
            seq       bigint NOT NULL,
            kind      text NOT NULL,
            digest    text NOT NULL,
            content   jsonb NOT NULL,
            hash      text,
            received  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (site, epoch, stream, seq, digest)
        );

        -- A record with differing copies is disputed until QA says which is the record; the
        -- batches either copy names cannot be signed meanwhile.
        CREATE TABLE record_disputes (
            id           bigserial PRIMARY KEY,
            site         text NOT NULL,
            epoch        text NOT NULL,
            stream       text NOT NULL,
            seq          bigint NOT NULL,
            kind         text NOT NULL,
            batches      text[] NOT NULL,
            opened       timestamptz NOT NULL DEFAULT now(),
            resolved     timestamptz,
            resolved_by  text,
            kept         text CHECK (kept IN ('stored', 'received')),
            reason       text,
            UNIQUE (site, epoch, stream, seq)
        );
        CREATE INDEX record_disputes_open ON record_disputes USING gin (batches) WHERE resolved IS NULL;
        """,
        // 7: every version of each register the Control Site publishes to the sites, retained
        // per site (released specs first): what a site enforces is one of these, by version and hash.
        """
        CREATE TABLE register_versions (
            kind         text NOT NULL,
            version      bigint NOT NULL,
            hash         text NOT NULL,
            -- The entries' canonical form, to tell whether the register changed, and the whole
            -- register's, which the hash covers.
            entries      text NOT NULL,
            canonical    text NOT NULL,
            signer_name  text NOT NULL,
            signer_user  text NOT NULL,
            signed_at    text NOT NULL,
            meaning      text NOT NULL,
            created      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (kind, version)
        );
        -- A site's own word that it started a batch under a spec that was not released
        -- (conformance reads these).
        CREATE INDEX events_spec_release ON events (site, batch) WHERE kind = 'spec_release';
        """,
        // 8: records the Control Site can prove (docs/control-site.md, "Records the Control Site can prove").
        """
        -- What recomputing a record's hash needs beyond the columns it already has (docs/mqtt.md,
        -- "Recomputing a record's hash"): samples keep the time in nanoseconds and the raw numbers
        -- behind labels as sent ("values" and quality are kept as sent already); events keep their
        -- body's exact bytes (record is jsonb, which reorders them). NULL time_ns: a record from a
        -- site that predates it, whose hash could not be recomputed.
        ALTER TABLE samples ADD COLUMN time_ns bigint, ADD COLUMN raw json;
        ALTER TABLE events ADD COLUMN body text;

        -- Records whose content does not hash to the hash they carry, and messages from sites that
        -- are not registered or not signed by the site: kept as sent for QA, never mixed with records.
        CREATE TABLE records_set_aside (
            id        bigserial PRIMARY KEY,
            reason    text NOT NULL,     -- hash_mismatch, unregistered_site, unsigned_status, bad_checkpoint
            site      text NOT NULL,
            epoch     text NOT NULL DEFAULT '',
            stream    text NOT NULL DEFAULT '',
            seq       bigint,
            record    text NOT NULL,     -- the record or message as it arrived (cut at 64 KiB)
            detail    text NOT NULL,
            received  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX records_set_aside_by_site ON records_set_aside (site, reason, received);

        -- Checkpoints the sites signed: one row per message as it arrived (the signed bytes, so it
        -- can be verified again and exported), and one row per chain it names.
        CREATE TABLE site_checkpoints (
            id          bigserial PRIMARY KEY,
            site        text NOT NULL,
            epoch       text NOT NULL,
            signed_ns   bigint NOT NULL,     -- the site's time of signing
            key         text NOT NULL,       -- the public key it names (ed25519:hex)
            verified    boolean NOT NULL,    -- signed by a key registered for the site at signed_ns
            detail      text NOT NULL,
            message     text NOT NULL,       -- the whole message as sent
            received    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (site, epoch, signed_ns, key)
        );
        CREATE TABLE chain_checkpoints (
            checkpoint  bigint NOT NULL REFERENCES site_checkpoints (id),
            site        text NOT NULL,
            epoch       text NOT NULL,
            stream      text NOT NULL,
            seq         bigint NOT NULL,
            hash        text NOT NULL,
            PRIMARY KEY (site, epoch, stream, seq, checkpoint)
        );
        """,
    ]

    /// The quality system's migrations follow the records' own (`QualitySchema`), then what
    /// the site's signature confirms (`ConfirmationSchema`).
    static var allMigrations: [String] { migrations + QualitySchema.migrations + ConfirmationSchema.migrations + SampleMonthsSchema.migrations
        + PreparedReviewSchema.migrations + MinuteRollupSchema.migrations + SampleChunkSchema.migrations
        + TypedChunkValuesSchema.migrations }

    public static var latestVersion: Int { allMigrations.count }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// Brings the database to the latest version; returns the version it found.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, logger: Logger) throws -> Int {
        try connection.transaction {
            // One instance migrates; the others wait here and then find nothing left to do.
            try connection.execute("SELECT pg_advisory_xact_lock(7146352)")
            try connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
            let found = Int(try connection.execute("SELECT coalesce(max(version), 0) AS version FROM schema_migrations").int(0, "version") ?? 0)
            guard found <= latestVersion else {
                throw Refusal(description: "the database has schema version \(found), newer than this software knows (\(latestVersion))")
            }
            for version in (found + 1)...max(found + 1, latestVersion) where version <= latestVersion {
                try connection.executeScript(allMigrations[version - 1])
                try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [String(version)])
                logger.info("database schema migrated", metadata: ["version": "\(version)"])
            }
            return found
        }
    }
}
