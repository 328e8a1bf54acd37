/// The store's schema, as forward migrations. `PRAGMA user_version` holds how many have run;
/// a store written by a newer version is refused rather than guessed at.
enum Schema {
    static let migrations: [String] = [
        // 1: the first schema.
        """
        CREATE TABLE streams (
            stream        TEXT PRIMARY KEY,
            last_seq      INTEGER NOT NULL,
            delivered_seq INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;

        -- Parameter ids of a device's samples, stored once instead of in every sample.
        CREATE TABLE layouts (
            id         INTEGER PRIMARY KEY,
            device     TEXT NOT NULL,
            parameters TEXT NOT NULL,
            UNIQUE (device, parameters)
        );

        CREATE TABLE samples (
            stream   TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            device   TEXT NOT NULL,
            time_ns  INTEGER NOT NULL,
            cycle    INTEGER NOT NULL,
            batch    TEXT,
            phase    TEXT,
            spec     TEXT,
            layout   INTEGER NOT NULL REFERENCES layouts (id),
            readings BLOB NOT NULL,
            PRIMARY KEY (stream, seq)
        ) WITHOUT ROWID;

        CREATE TABLE events (
            stream  TEXT NOT NULL,
            seq     INTEGER NOT NULL,
            device  TEXT NOT NULL,
            time_ns INTEGER NOT NULL,
            kind    TEXT NOT NULL,
            alarm   TEXT,
            batch   TEXT,
            phase   TEXT,
            spec    TEXT,
            body    TEXT NOT NULL,
            PRIMARY KEY (stream, seq)
        ) WITHOUT ROWID;
        CREATE INDEX events_by_batch ON events (batch, time_ns);

        CREATE TABLE batches (
            device     TEXT NOT NULL,
            batch      TEXT NOT NULL,
            spec       TEXT NOT NULL,
            started_ns INTEGER NOT NULL,
            ended_ns   INTEGER,
            PRIMARY KEY (device, batch)
        );

        CREATE TABLE audit (
            seq           INTEGER PRIMARY KEY,
            time_ns       INTEGER NOT NULL,
            user          TEXT NOT NULL,
            action        TEXT NOT NULL,
            target        TEXT NOT NULL,
            reason        TEXT,
            old_value     TEXT,
            new_value     TEXT,
            previous_hash TEXT NOT NULL,
            hash          TEXT NOT NULL
        );
        -- The audit trail is append-only; no code path updates or deletes a row.
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        """,
        // 2: the store's identity. The epoch is random and made once, when the store is
        // created (or first migrated): a store restored from a backup or made anew after a
        // loss has another epoch, which tells a reader that sequence numbers started again.
        """
        CREATE TABLE store_identity (
            epoch      TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            opened_ns  INTEGER NOT NULL
        );
        INSERT INTO store_identity (epoch, created_ns, opened_ns)
            VALUES (lower(hex(randomblob(16))), CAST((julianday('now') - 2440587.5) * 86400e9 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400e9 AS INTEGER));
        CREATE TRIGGER store_identity_no_delete BEFORE DELETE ON store_identity
            BEGIN SELECT RAISE(ABORT, 'the store identity is permanent'); END;
        CREATE TRIGGER store_identity_keeps_epoch BEFORE UPDATE OF epoch, created_ns ON store_identity
            BEGIN SELECT RAISE(ABORT, 'the store identity is permanent'); END;
        """,
        // 3: a hash chain over every record of every stream (RecordChain). The head is the
        // last record's hash; the anchor is the last pruned record, where verification starts.
        // Records written before this version are not chained: the chain starts after them.
        """
        ALTER TABLE samples ADD COLUMN hash TEXT;
        ALTER TABLE events ADD COLUMN hash TEXT;
        ALTER TABLE streams ADD COLUMN head_hash TEXT;
        ALTER TABLE streams ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE streams ADD COLUMN anchor_hash TEXT;
        UPDATE streams SET anchor_seq = last_seq,
            anchor_hash = '0000000000000000000000000000000000000000000000000000000000000000',
            head_hash = '0000000000000000000000000000000000000000000000000000000000000000'
            WHERE stream <> 'audit';
        """,
        // 4: what must survive a restart so that a batch is held to the same spec afterwards:
        // the running batches, their shelves, and every spec by fingerprint. Batches left open
        // by an earlier version are not resumed: it did not record what they ran.
        """
        CREATE TABLE running_batches (
            device              TEXT PRIMARY KEY,
            batch               TEXT NOT NULL,
            spec                TEXT NOT NULL,
            phase               TEXT NOT NULL,
            follow_device_phase INTEGER NOT NULL,
            started_ns          INTEGER NOT NULL,
            started_by          TEXT,
            reason              TEXT
        ) WITHOUT ROWID;
        CREATE TABLE shelves (
            alarm    TEXT PRIMARY KEY,
            device   TEXT NOT NULL,
            batch    TEXT,
            until_ns INTEGER NOT NULL,
            user     TEXT NOT NULL,
            reason   TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE specs (
            fingerprint   TEXT PRIMARY KEY,
            document      TEXT NOT NULL,
            version       TEXT NOT NULL,
            canonical     TEXT NOT NULL,
            source        TEXT NOT NULL,
            first_seen_ns INTEGER NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE batches ADD COLUMN started_by TEXT;
        ALTER TABLE batches ADD COLUMN start_reason TEXT;
        ALTER TABLE batches ADD COLUMN ended_by TEXT;
        ALTER TABLE batches ADD COLUMN end_reason TEXT;
        """,
        // 5: alarms and devices out of service for maintenance, until returned, across restarts.
        """
        CREATE TABLE out_of_service (
            target   TEXT PRIMARY KEY,
            device   TEXT NOT NULL,
            since_ns INTEGER NOT NULL,
            user     TEXT NOT NULL,
            reason   TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
        // 6: latched alarms, standing until an operator resets them, across restarts.
        """
        CREATE TABLE latches (
            alarm    TEXT PRIMARY KEY,
            device   TEXT NOT NULL,
            since_ns INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        // 7: the enumeration labels each sample was taken under (one row per distinct set of a
        // device), so a coded value is published with the labels in force when it was polled.
        // Samples written before this version have none: they travel with the current labels.
        """
        CREATE TABLE label_sets (
            id     INTEGER PRIMARY KEY,
            device TEXT NOT NULL,
            labels TEXT NOT NULL,
            UNIQUE (device, labels)
        );
        ALTER TABLE samples ADD COLUMN labels INTEGER REFERENCES label_sets (id);
        """,
        // 8: every version of every register the Control Site decided (released specs, and
        // later trained personnel and registered equipment), as received and accepted: the
        // site enforces the latest of each kind, also while offline and across restarts.
        """
        CREATE TABLE registers (
            kind        TEXT NOT NULL,
            version     INTEGER NOT NULL,
            hash        TEXT NOT NULL,
            signer_name TEXT NOT NULL,
            signer_user TEXT NOT NULL,
            signed_at   TEXT NOT NULL,
            meaning     TEXT NOT NULL,
            canonical   TEXT NOT NULL,
            received_ns INTEGER NOT NULL,
            PRIMARY KEY (kind, version)
        ) WITHOUT ROWID;
        CREATE TRIGGER registers_no_update BEFORE UPDATE ON registers
            BEGIN SELECT RAISE(ABORT, 'a received register is kept as received'); END;
        """,
    ]

    static var version: Int { migrations.count }
}
