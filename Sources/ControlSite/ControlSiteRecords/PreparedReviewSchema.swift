/// 14: what a batch's review reads from every one of its samples, kept for the version of the
/// batch's record it was read at (`batch_record_versions`, which every change of the record
/// takes). A record that has not changed since is not read again: the page of a batch of weeks
/// is then shown from what was prepared, and a comparison of many such batches checks their
/// site records from what was kept; anything that changes the record makes it stale.
enum PreparedReviewSchema {
    static let migrations: [String] = [preparedReviews]

    static let preparedReviews = """
        -- The record hash (`pocare-batch-record/1`) at a version of the batch's record.
        CREATE TABLE batch_record_hashes (
            site         text NOT NULL,
            batch        text NOT NULL,
            version      bigint NOT NULL,
            record_hash  text NOT NULL,
            computed     timestamptz NOT NULL DEFAULT now(),
            seconds      float8 NOT NULL,
            PRIMARY KEY (site, batch)
        );
        -- The statistics, the checks of the sites' records and the state strips (JSON), read with
        -- the limits named by `reader` and the inputs named by `inputs` (a SHA-256 of the reader's
        -- limits and the devices' metadata), at `version`; `specs` names each spec looked up and
        -- whether it could be read then.
        CREATE TABLE prepared_batch_reviews (
            site      text NOT NULL,
            batch     text NOT NULL,
            inputs    text NOT NULL,
            reader    text NOT NULL,
            version   bigint NOT NULL,
            specs     jsonb NOT NULL,
            parts     text NOT NULL,
            prepared  timestamptz NOT NULL DEFAULT now(),
            seconds   float8 NOT NULL,
            PRIMARY KEY (site, batch, inputs)
        );
        -- A telemetry chain segment's own records as walked at a version (`ChainCoverage`).
        CREATE TABLE batch_chain_walks (
            site          text NOT NULL,
            batch         text NOT NULL,
            epoch         text NOT NULL,
            stream        text NOT NULL,
            first_seq     bigint NOT NULL,
            last_seq      bigint NOT NULL,
            version       bigint NOT NULL,
            records       bigint NOT NULL,
            unrecomputed  bigint NOT NULL,
            unlinked      bigint NOT NULL,
            last_hash     text,
            PRIMARY KEY (site, batch, epoch, stream, first_seq, last_seq)
        );
        -- The checks of a batch's site records against its samples (`SiteBatchRecordCheck`, JSON)
        -- at `version`, with the devices' metadata they were read with (`metadata`, an md5) and
        -- each spec looked up and whether it could be read then: the batch page and comparisons
        -- both read them.
        CREATE TABLE site_record_checks (
            site      text NOT NULL,
            batch     text NOT NULL,
            version   bigint NOT NULL,
            metadata  text NOT NULL,
            specs     jsonb NOT NULL,
            checks    text NOT NULL,
            checked   timestamptz NOT NULL DEFAULT now(),
            seconds   float8 NOT NULL,
            PRIMARY KEY (site, batch)
        );
        -- Ended batches, found by the web pages' preparer.
        CREATE INDEX events_batch_ended ON events (site, batch) WHERE kind = 'batch_ended';
        """
}
