import ControlSiteRecords
import Foundation

/// What each kind of change requires of the records, checked when it is requested and again
/// when it is approved (the records may have moved on between the two), and how an approved
/// change is made effective: inside the approval's transaction, each effect audited.
enum ChangeApplication {
    static func validate(_ content: ChangeContent, on connection: PostgresConnection) throws {
        func site(_ id: String) throws -> MasterFile.SiteRecord {
            guard let record = try MasterFile.site(id, on: connection) else {
                throw QualityRefusal(.notFound, "site \(id) is not in the POC Master File; register it first")
            }
            return record
        }
        switch content {
        case .specRelease(let spec):
            let existing = try connection.execute(
                "SELECT retired IS NOT NULL AS is_retired FROM released_specs WHERE fingerprint = $1", [spec.fingerprint])
            if let retired = existing.bool(0, "is_retired") {
                throw QualityRefusal(.stateConflict, retired ? "\(spec.fingerprint) was retired; a retired spec is not released again (release a new version)"
                                                             : "\(spec.fingerprint) is already released")
            }
        case .specRetire(let fingerprint):
            let existing = try connection.execute("SELECT retired IS NOT NULL AS is_retired FROM released_specs WHERE fingerprint = $1", [fingerprint])
            guard let retired = existing.bool(0, "is_retired") else { throw QualityRefusal(.notFound, "no released spec has fingerprint \(fingerprint)") }
            if retired { throw QualityRefusal(.stateConflict, "\(fingerprint) is already retired") }
        case .siteRegister(let r):
            try Identifier.check(r.site, "the site id")
            for (text, field) in [(r.name, "the site name"), (r.siteLead, "the site lead"), (r.qaContact, "the QA contact")] {
                _ = try FreeText.required(text, field, limit: 200)
            }
            guard (1...20).contains(r.requiredBatches) else { throw QualityRefusal(.invalidInput, "qualification batches: 1 to 20") }
            if try MasterFile.site(r.site, on: connection) != nil { throw QualityRefusal(.stateConflict, "site \(r.site) is registered already") }
            if r.role == .reference { try onlyReference(except: r.site, on: connection) }
        case .siteRole(let id, let role, let n):
            _ = try site(id)
            guard (1...20).contains(n) else { throw QualityRefusal(.invalidInput, "qualification batches: 1 to 20") }
            if role == .reference { try onlyReference(except: id, on: connection) }
        case .siteQualification(let id, let state):
            let record = try site(id)
            if record.qualification == state { throw QualityRefusal(.stateConflict, "\(id) is \(state.words) already") }
        case .equipmentRegister(let id, let e):
            _ = try site(id)
            try Identifier.check(e.device, "the device id")
            try Identifier.check(e.profile, "the equipment model (profile id)")
            guard e.profileFingerprint.hasPrefix("sha256:"), e.profileFingerprint.count == 71 else {
                throw QualityRefusal(.invalidInput, "the profile fingerprint must be sha256: and 64 hex digits")
            }
            if try MasterFile.equipment(site: id, on: connection).contains(where: { $0.device == e.device }) {
                throw QualityRefusal(.stateConflict, "\(e.device) is registered at \(id) already; retire it first")
            }
        case .equipmentRetire(let id, let device):
            _ = try site(id)
            guard try MasterFile.equipment(site: id, on: connection).contains(where: { $0.device == device }) else {
                throw QualityRefusal(.notFound, "\(device) is not registered at \(id)")
            }
        case .personnelRegister(let id, let p):
            _ = try site(id)
            _ = try FreeText.required(p.person, "the person's name", limit: 200)
            try Identifier.check(p.account, "the account")
            try TrainingDate.check(p.trainingDate)
            if try MasterFile.personnel(site: id, on: connection).contains(where: { $0.account == p.account }) {
                throw QualityRefusal(.stateConflict, "account \(p.account) is registered at \(id) already")
            }
        case .personnelRetire(let id, let account):
            _ = try site(id)
            guard try MasterFile.personnel(site: id, on: connection).contains(where: { $0.account == account }) else {
                throw QualityRefusal(.notFound, "account \(account) is not registered at \(id)")
            }
        case .personnelTraining(let id, let account, let date):
            _ = try site(id)
            try TrainingDate.check(date)
            guard let person = try MasterFile.personnel(site: id, on: connection).first(where: { $0.account == account }) else {
                throw QualityRefusal(.notFound, "account \(account) is not registered at \(id)")
            }
            if date < person.trainingDate { throw QualityRefusal(.invalidInput, "\(date) is before the training on record (\(person.trainingDate))") }
        }
    }

    static func onlyReference(except site: String, on connection: PostgresConnection) throws {
        let other = try connection.execute("SELECT site FROM master_sites WHERE role = 'reference' AND site <> $1", [site])
        if let existing = other.string(0, "site") {
            throw QualityRefusal(.stateConflict, "\(existing) is the reference site; make it an additional site first")
        }
    }

    /// Makes an approved change effective; the caller's transaction holds the change row.
    static func apply(_ content: ChangeContent, change: ChangeControl.Record, approver: WebUsers.User, settings: QualitySettings,
                      on connection: PostgresConnection) throws {
        let id = String(change.id)
        func audit(_ action: String, _ target: String, old: String? = nil, new: String? = nil) throws {
            try ControlAuditTrail.append(ControlAuditAction(
                user: approver.userName, action: action, target: target, reason: "\(change.reference): \(change.reason)", oldValue: old,
                newValue: new), to: connection)
        }
        switch content {
        case .specRelease(let s):
            try SpecRegister.enterRelease(
                fingerprint: s.fingerprint, product: s.product, document: s.document, version: s.version, approvedBy: s.approvedBy,
                approvalDate: s.approvalDate, text: s.specText, profiles: s.profiles, reason: change.reason, user: approver.userName, change: change.id, on: connection)
        case .specRetire(let fingerprint):
            try SpecRegister.enterRetirement(fingerprint, reason: change.reason, user: approver.userName, change: change.id, on: connection)
        case .siteRegister(let r):
            try connection.execute("""
                INSERT INTO master_sites (site, name, role, site_lead, qa_contact, required_batches, qualification, qualification_since,
                                          qualification_reason, registered, change_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, now(), $9)
                """, [r.site, r.name, r.role.rawValue, r.siteLead, r.qaContact, String(r.requiredBatches), r.qualification.rawValue,
                      "\(change.reference): \(change.reason)", id])
            try audit("site.register", r.site, new: content.summary)
        case .siteRole(let site, let role, let n):
            let old = try MasterFile.site(site, on: connection)
            try connection.execute("UPDATE master_sites SET role = $2, required_batches = $3, change_id = $4 WHERE site = $1",
                                   [site, role.rawValue, String(n), id])
            try audit("site.role", site, old: old.map { "\($0.role.rawValue), \($0.requiredBatches) batches" }, new: "\(role.rawValue), \(n) batches")
        case .siteQualification(let site, let state):
            let old = try MasterFile.site(site, on: connection)
            try connection.execute("""
                UPDATE master_sites SET qualification = $2, qualification_since = now(), qualification_reason = $3, change_id = $4 WHERE site = $1
                """, [site, state.rawValue, "\(change.reference): \(change.reason)", id])
            try audit("site.qualification", site, old: old?.qualification.words, new: state.words)
        case .equipmentRegister(let site, let e):
            try connection.execute("""
                INSERT INTO registered_equipment (site, device, profile, profile_fingerprint, serial_number, firmware_version, registered,
                                                  registered_change)
                VALUES ($1, $2, $3, $4, $5, $6, now(), $7)
                """, [site, e.device, e.profile, e.profileFingerprint, e.serialNumber, e.firmwareVersion, id])
            try audit("equipment.register", "\(site)/\(e.device)", new: content.summary)
        case .equipmentRetire(let site, let device):
            try connection.execute("""
                UPDATE registered_equipment SET retired = now(), retired_change = $3 WHERE site = $1 AND device = $2 AND retired IS NULL
                """, [site, device, id])
            try audit("equipment.retire", "\(site)/\(device)", old: "registered", new: "retired")
        case .personnelRegister(let site, let p):
            try connection.execute("""
                INSERT INTO site_personnel (site, person, account, role, training_date, registered, registered_change)
                VALUES ($1, $2, $3, $4, $5::date, now(), $6)
                """, [site, p.person, p.account, p.role.rawValue, p.trainingDate, id])
            try audit("personnel.register", "\(site)/\(p.account)", new: content.summary)
        case .personnelRetire(let site, let account):
            try connection.execute("""
                UPDATE site_personnel SET retired = now(), retired_change = $3 WHERE site = $1 AND account = $2 AND retired IS NULL
                """, [site, account, id])
            try audit("personnel.retire", "\(site)/\(account)", old: "registered", new: "retired")
        case .personnelTraining(let site, let account, let date):
            let old = try MasterFile.personnel(site: site, on: connection).first { $0.account == account }
            try connection.execute("""
                UPDATE site_personnel SET training_date = $3::date, training_change = $4 WHERE site = $1 AND account = $2 AND retired IS NULL
                """, [site, account, date, id])
            try audit("personnel.training", "\(site)/\(account)", old: old?.trainingDate, new: date)
        }
        if case .siteRegister = content {} else if content.site != nil {
            // A site's own record shows which change last touched it.
            try connection.execute("UPDATE master_sites SET change_id = $2 WHERE site = $1 AND change_id < $2", [content.site, id])
        }
        // What sites enforce follows what was approved: their registers are published again.
        try RegisterChanges.changed(by: content, change: change, approver: approver, settings: settings, on: connection)
    }
}

/// Ids that travel in topics, paths and commands: letters, digits, `.`, `_`, `-`.
enum Identifier {
    static func check(_ text: String, _ field: String) throws(QualityRefusal) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard (1...64).contains(text.count), text.allSatisfy(allowed.contains) else {
            throw QualityRefusal(.invalidInput, "\(field) '\(text.prefix(80))': 1 to 64 of letters, digits, '.', '_', '-'")
        }
    }
}

/// A GxP training date: YYYY-MM-DD, a real day, not in the future.
enum TrainingDate {
    static func check(_ text: String, today: Date = Date()) throws(QualityRefusal) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        guard text.count == 10, let date = formatter.date(from: text), formatter.string(from: date) == text else {
            throw QualityRefusal(.invalidInput, "training date '\(text.prefix(40))': expected YYYY-MM-DD")
        }
        guard date <= today else { throw QualityRefusal(.invalidInput, "training date \(text) is in the future") }
    }
}
