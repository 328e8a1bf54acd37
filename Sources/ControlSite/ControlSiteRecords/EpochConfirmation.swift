import POCareContract

/// Records under a new store epoch of a known site are taken only once the site's registered
/// key signed a checkpoint under that epoch: anyone who can publish could otherwise start a
/// fake series of numbers beside the site's own. Until then each message is quarantined
/// (`unconfirmed_epoch`) with one open finding per stream; the checkpoint itself (an event on
/// `site/events`) is verified before this rule runs, so the message that carries it confirms
/// its epoch. Once confirmed, the finding is resolved and the Control Site asks the site for
/// the new epoch's streams from their start (`ReplayCoordinator`), which brings what was held.
/// A site without keys cannot sign, so the rule is for sites registered with keys; a site's
/// first epoch, and any epoch the database already holds records of, are taken as before.
extension IngestWriter {
    func holdUnconfirmedEpochs(_ records: [RecordMessage]) throws -> [RecordMessage] {
        var confirmed: [SiteEpoch: Bool] = [:]
        var kept: [RecordMessage] = []
        kept.reserveCapacity(records.count)
        for message in records {
            guard !message.epoch.isEmpty, siteKeys.hasKeys(message.site) else {
                kept.append(message)
                continue
            }
            let key = SiteEpoch(site: message.site, epoch: message.epoch)
            let isConfirmed = try confirmed[key] ?? isEpochConfirmed(site: message.site, epoch: message.epoch)
            confirmed[key] = isConfirmed
            if isConfirmed {
                kept.append(message)
                continue
            }
            let detail = "records under store epoch \(message.epoch), new for this site, are held: no checkpoint signed by the "
                + "site's key names the epoch yet (latest \(message.stream) \(message.seqFirst)...\(message.seqLast))"
            try setAside("unconfirmed_epoch", site: message.site, epoch: message.epoch, stream: message.stream, seq: message.seqFirst,
                         record: Array(message.records.prefix(100).joined(separator: Array("\n".utf8))), detail: detail)
            try openQuarantineFinding(site: message.site, epoch: message.epoch, stream: message.stream, range: nil, detail: detail)
        }
        return kept
    }

    /// A first epoch, one the database holds records of, or one a verified checkpoint names.
    private func isEpochConfirmed(site: String, epoch: String) throws -> Bool {
        let row = try connection.execute("""
            SELECT NOT EXISTS (SELECT 1 FROM streams WHERE site = $1 AND epoch <> '')
                OR EXISTS (SELECT 1 FROM streams WHERE site = $1 AND epoch = $2)
                OR EXISTS (SELECT 1 FROM site_checkpoints WHERE site = $1 AND epoch = $2 AND verified) AS confirmed
            """, [site, epoch])
        return row.bool(0, "confirmed") == true
    }

    /// A verified checkpoint under `epoch` arrived: what was held of the epoch is confirmed.
    func epochConfirmed(site: String, epoch: String) throws {
        let resolved = try connection.execute("""
            UPDATE integrity_findings SET resolved = now(),
                detail = detail || '; since confirmed by a checkpoint the site signed: asked for again from the site'
            WHERE kind = 'quarantined' AND site = $1 AND epoch = $2 AND seq_from IS NULL AND resolved IS NULL
            RETURNING stream
            """, [site, epoch])
        if resolved.rowCount > 0 {
            logger.info("a new store epoch is confirmed by the site's signature", metadata: ["site": "\(site)", "epoch": "\(epoch)"])
        }
    }
}
