/// What ingest takes only once the site's own signature confirms it (docs/control-site.md,
/// "Confirmed by the site's signature"). Its migrations follow the quality system's.
enum ConfirmationSchema {
    static let migrations: [String] = [confirmations]

    // 12 (after the quality system's 9 to 11): replay claims and held metadata.
    static let confirmations = """
        -- The last number a site's store had pruned, as its signed checkpoint states it.
        ALTER TABLE chain_checkpoints ADD COLUMN pruned_through bigint;

        -- A replay answer saying records can never be sent (pruned, or another store epoch): not
        -- signed, so held here until a verified checkpoint confirms it; until then the range
        -- stays a gap and is asked for again.
        CREATE TABLE replay_claims (
            id            bigserial PRIMARY KEY,
            request       text NOT NULL,      -- replay_requests.id it answered
            site          text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            seq_from      bigint NOT NULL,
            seq_to        bigint NOT NULL,
            claim         text NOT NULL CHECK (claim IN ('pruned', 'epoch_replaced', 'refused')),
            reason        text NOT NULL,
            received      timestamptz NOT NULL DEFAULT now(),
            confirmed     timestamptz,
            confirmed_by  bigint REFERENCES site_checkpoints (id),
            UNIQUE (request, claim)
        );
        CREATE INDEX replay_claims_open ON replay_claims (site, epoch, stream) WHERE confirmed IS NULL;

        -- Metadata that would change the units or labels of a device with a running batch: kept
        -- as sent, not applied, until a status the site signed names its fingerprint.
        CREATE TABLE held_metadata (
            id           bigserial PRIMARY KEY,
            site         text NOT NULL,
            device       text NOT NULL,
            fingerprint  text NOT NULL,
            metadata     jsonb NOT NULL,
            changes      text NOT NULL,       -- what it would change, for QA
            received     timestamptz NOT NULL DEFAULT now(),
            confirmed    timestamptz,
            UNIQUE (site, device, fingerprint)
        );
        """
}
