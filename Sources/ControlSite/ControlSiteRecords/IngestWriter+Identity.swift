import POCareContract

/// Who may speak for a site (docs/control-site.md, "Site identities"): with a register in
/// control.yaml, messages under a site that is not registered are set aside as
/// `unregistered_site`, and a status the site's registered key did not sign is set aside as
/// `unsigned_status`, so it changes nothing. Checkpoints the sites sign are verified and kept.
extension IngestWriter {
    func admit(_ items: [Item]) throws -> [Item] {
        guard siteKeys.isEnforced else { return items }
        var admitted: [Item] = []
        admitted.reserveCapacity(items.count)
        for item in items {
            guard case .message(let message) = item else {
                admitted.append(item)
                continue
            }
            let (site, stream, payload) = Self.describe(message)
            guard siteKeys.isRegistered(site) else {
                try setAside("unregistered_site", site: site, stream: stream, record: payload,
                             detail: "'\(site)' is not a registered site: its messages are kept here, not taken as a site's")
                continue
            }
            // A site registered with keys speaks only through them; one registered by name alone
            // cannot sign yet, and its statuses are taken as before.
            if case .status(let status) = message, siteKeys.hasKeys(site), let problem = signatureProblem(status) {
                try setAside("unsigned_status", site: site, stream: stream, record: payload, detail: problem)
                logger.warning("a status not signed by the site was set aside", metadata: ["site": "\(site)", "problem": "\(problem)"])
                continue
            }
            admitted.append(item)
        }
        return admitted
    }

    /// Why a status is not the site's own, or nil when the site's key in force signed it.
    private func signatureProblem(_ status: SiteStatusMessage) -> String? {
        guard let signature = SignedStatus.signature(of: status.payload) else { return "the status carries no signature" }
        switch siteKeys.key(of: status.site, named: signature.key, at: signature.signedNanoseconds) {
        case .notRegistered(let why): return why
        case .registered(let key): return signature.isSigned(by: key) ? nil : "the signature does not verify with \(key)"
        }
    }

    static func describe(_ message: ContractMessage) -> (site: String, stream: String, payload: [UInt8]) {
        switch message {
        case .status(let s): (s.site, "status", s.payload)
        case .deviceMetadata(let m): (m.site, "\(m.device)/meta", m.payload ?? [])
        case .specDocument(let d): (d.site, "specs", d.payload)
        case .records(let r): (r.site, r.stream, Array(r.records.joined(separator: Array("\n".utf8))))
        }
    }

    func setAside(_ reason: String, site: String, epoch: String = "", stream: String, seq: Int64? = nil, record: [UInt8], detail: String) throws {
        try connection.execute("""
            INSERT INTO records_set_aside (reason, site, epoch, stream, seq, record, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, [reason, String(site.prefix(200)), epoch, String(stream.prefix(400)), seq.map { String($0) },
                  String(decoding: record.prefix(65_536), as: UTF8.self), detail])
    }

    /// Keeps each checkpoint event of `records` with whether the site's registered key signed it.
    func recordCheckpoints(_ records: [RecordMessage]) throws {
        for message in records where message.kind == .event {
            for record in message.records {
                guard let fields = try? JSONFields(record), fields.string("kind") == Checkpoint.eventKind,  // stored already; malformed is not a checkpoint
                    let body = fields.raw("event")
                else { continue }
                try recordCheckpoint(body, message: message)
            }
        }
    }

    private func recordCheckpoint(_ body: ArraySlice<UInt8>, message: RecordMessage) throws {
        let received: Checkpoint.Received
        do { received = try Checkpoint.read(body) } catch {
            try setAside("bad_checkpoint", site: message.site, epoch: message.epoch, stream: message.stream, record: Array(body),
                         detail: error.description)
            return
        }
        let checkpoint = received.checkpoint
        var problem: String?
        if checkpoint.site != message.site { problem = "signed for site '\(checkpoint.site)'" }
        if !message.epoch.isEmpty, checkpoint.epoch != message.epoch { problem = "signed for store epoch '\(checkpoint.epoch)'" }
        if problem == nil {
            switch siteKeys.key(of: message.site, named: checkpoint.key, at: checkpoint.signedNanoseconds) {
            case .notRegistered(let why): problem = siteKeys.isEnforced ? why : "no site register: the key cannot be attributed"
            case .registered(let key): if !received.isSigned(by: key) { problem = "the signature does not verify with \(key)" }
            }
        }
        let inserted = try connection.execute("""
            INSERT INTO site_checkpoints (site, epoch, signed_ns, key, verified, detail, message)
            VALUES ($1, $2, $3, $4, $5::boolean, $6, $7)
            ON CONFLICT (site, epoch, signed_ns, key) DO NOTHING RETURNING id
            """, [message.site, checkpoint.epoch, String(checkpoint.signedNanoseconds), checkpoint.key, problem == nil ? "true" : "false",
                  problem ?? "signed by the site's registered key", String(decoding: body, as: UTF8.self)])
        guard inserted.rowCount == 1, let id = inserted.string(0, "id") else { return }
        for chain in checkpoint.chains {
            try connection.execute("""
                INSERT INTO chain_checkpoints (checkpoint, site, epoch, stream, seq, hash, pruned_through) VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT DO NOTHING
                """, [id, message.site, checkpoint.epoch, chain.stream, String(chain.seq), chain.hash, chain.prunedThrough.map { String($0) }])
        }
        if problem == nil { try epochConfirmed(site: message.site, epoch: checkpoint.epoch) }
        if let problem, siteKeys.isEnforced {
            try connection.execute("""
                INSERT INTO integrity_findings (kind, site, epoch, stream, detail) VALUES ('checkpoint_unverified', $1, $2, $3, $4)
                ON CONFLICT (kind, site, epoch, stream, seq_from, seq_to) DO UPDATE SET
                    occurrences = integrity_findings.occurrences + 1, last_seen = now(), detail = excluded.detail
                """, [message.site, message.epoch, message.stream, "a checkpoint is not verified: \(problem)"])
        }
    }
}
