import ControlSiteQuality
import ControlSiteRecords
import Foundation

/// A site's POC Master File on its page: role, responsible persons, qualification, equipment,
/// trained personnel, approved specs, open deviations and changes; for QA the forms that
/// request changes (each takes effect when a second QA person approves it).
enum MasterFileSection {
    static func render(_ file: SiteFile?, site: String, reported: [SiteOverview.Device], settings: QualitySettings, session: WebSessions.Session) -> String {
        guard let file else {
            var body = "<h2>POC Master File</h2><p class=\"notice not-registered\">\(HTML.escape(site)) is not in the POC Master File: its equipment, personnel and qualification are not registered.</p>"
            if HTML.mayDecide(session) {
                body += HTML.form("/changes", session: session,
                                  HTML.hidden("kind", "site.register") + HTML.hidden("site", site) + HTML.input("Name", "name")
                                      + HTML.select("Role", "role", SiteRole.allCases.map(\.rawValue), selected: "additional")
                                      + HTML.input("Site lead", "site_lead") + HTML.input("QA contact", "qa_contact")
                                      + HTML.input("Qualification batches (empty: 3 reference, 1 additional)", "required_batches", required: false)
                                      + HTML.select("Qualification", "qualification", ["in_qualification", "not_qualified", "qualified"])
                                      + HTML.input("Reason", "reason"),
                                  submit: "Request the registration")
            }
            return body
        }
        let r = file.record, q = file.qualification
        var body = "<h2>POC Master File</h2><dl class=\"record master-file\">"
        for (label, value) in [
            ("Name", HTML.escape(r.name)), ("Role", HTML.escape(r.role == .reference ? "reference site" : "additional site")),
            ("Site lead", HTML.escape(r.siteLead)), ("QA contact", HTML.escape(r.qaContact)),
            ("Qualification", qualificationBadge(q)), ("Since", "\(HTML.escape(q.since)): \(HTML.escape(q.reason))"),
            ("Counted batches", q.countedBatches.isEmpty ? "none" : q.countedBatches.map { HTML.link("/batches/\(HTML.segment(site))/\(HTML.segment($0))", $0) }.joined(separator: ", ")),
            ("Last approved comparison", q.lastComparison.map { HTML.link("/comparisons/\($0.id)", "\($0.reference): \($0.outcome) (approved \($0.signed ?? ""))") } ?? "none"),
            ("Registered", "\(HTML.escape(r.registered)) · last change \(HTML.link("/changes/\(r.changeId)", "CC-\(r.changeId)"))"),
        ] { body += "<dt>\(HTML.escape(label))</dt><dd>\(value)</dd>" }
        body += "</dl>"
        body += "<h3>Equipment</h3>" + HTML.table(["Device", "Model", "Profile", "Serial", "Firmware", "Registered", "What the site reports"], file.equipment.map { e in
            let problem = file.equipmentProblems[e.device]
            return [HTML.escape(e.device), HTML.escape(e.profile), "<code>\(HTML.escape(HTML.short(e.profileFingerprint)))</code>", HTML.escape(e.serialNumber ?? "-"),
                    HTML.escape(e.firmwareVersion ?? "-"), "\(HTML.escape(e.registered)) (\(HTML.link("/changes/\(e.registeredChange)", "CC-\(e.registeredChange)")))",
                    problem.map { HTML.badge("NONCONFORMANCE: \($0)", "bad") } ?? (reported.contains { $0.id == e.device } ? HTML.badge("as registered", "ok") : "not reported")]
        }, cssClass: "equipment")
        let unregistered = file.nonconformingEquipment.filter { n in !file.equipment.contains { $0.device == n.device } }
        for n in unregistered {
            body += "<p class=\"notice nonconformance\">NONCONFORMANCE \(HTML.escape(n.device)): \(HTML.escape(n.reason))</p>"
        }
        body += "<h3>Trained personnel</h3>" + HTML.table(["Account", "Person", "Role", "GxP training", "Valid through", "State"], file.personnel.map { p in
            let expired = p.trainingExpired(validDays: settings.trainingValidDays)
            return [HTML.escape(p.account), HTML.escape(p.person), HTML.escape(p.role.rawValue), HTML.escape(p.trainingDate),
                    HTML.escape(p.trainingExpires(validDays: settings.trainingValidDays)), expired ? HTML.badge("training expired", "bad") : HTML.badge("trained", "ok")]
        }, cssClass: "personnel")
        body += "<p class=\"muted\">Published to the site: " + (file.registers.map { "\(HTML.escape($0.kind)) register version \($0.version) (\(HTML.escape($0.created)), \($0.change.map { "CC-\($0), " } ?? "")signed by \(HTML.escape($0.signedBy)), <code>\(HTML.short($0.hash))</code>)" }
            .joined(separator: "; ").nilIfEmpty ?? "no register yet") + "</p>"
        body += "<h3>Approved specs per equipment model</h3>" + HTML.table(["Model", "Specs"], file.models.map { model in
            [HTML.escape(model), (file.approvedSpecs[model] ?? []).map { "<code>\(HTML.escape(HTML.short($0.fingerprint)))</code> \(HTML.escape($0.document)) \(HTML.escape($0.version))" }.joined(separator: "<br>")]
        })
        body += "<h3>Open deviations</h3>" + DeviationsPage.table(file.openDeviations)
        body += "<h3>Changes</h3>" + HTML.table(["Change", "State", "What", "Requested", "Decided by"], file.changes.prefix(20).map { c in
            [HTML.link("/changes/\(c.id)", c.reference), ChangesPage.badge(c.state), HTML.escape(c.summary), HTML.escape(c.requested), HTML.escape(c.decidedFullName ?? "-")]
        })
        if HTML.mayDecide(session) { body += forms(file, unregistered: unregistered, reported: reported, session: session) }
        return body
    }

    static func qualificationBadge(_ q: Qualification.Status) -> String {
        let kind = switch q.state {
        case .qualified: q.check == "overdue" ? "bad" : q.check == "due_soon" ? "warn" : "ok"
        case .suspended: "bad"
        default: "warn"
        }
        return "<span class=\"qualification\">" + HTML.badge(q.display, kind) + "</span>"
    }

    static func forms(_ file: SiteFile, unregistered: [Nonconformance], reported: [SiteOverview.Device], session: WebSessions.Session) -> String {
        let site = file.record.site
        func change(_ kind: String, _ fields: String, _ submit: String) -> String {
            HTML.form("/changes", session: session, HTML.hidden("kind", kind) + HTML.hidden("site", site) + fields + HTML.input("Reason", "reason"), submit: submit)
        }
        var body = "<h3>Request a change</h3><p class=\"muted\">Each request takes effect when a second person with a QA role approves it.</p>"
        for n in unregistered {
            let device = reported.first { $0.id == n.device }
            body += change("equipment.register", HTML.hidden("device", n.device) + HTML.input("Equipment model (profile)", "profile", value: device?.profile ?? "")
                               + HTML.input("Profile fingerprint (empty: from the profile here)", "fingerprint", required: false)
                               + HTML.input("Serial number", "serial", required: false) + HTML.input("Firmware", "firmware", required: false),
                           "Register \(n.device)")
        }
        body += change("equipment.register", HTML.input("Device", "device") + HTML.input("Equipment model (profile)", "profile")
                           + HTML.input("Profile fingerprint (empty: from the profile here)", "fingerprint", required: false)
                           + HTML.input("Serial number", "serial", required: false) + HTML.input("Firmware", "firmware", required: false), "Register equipment")
        if !file.equipment.isEmpty {
            body += change("equipment.retire", HTML.select("Device", "device", file.equipment.map(\.device)), "Retire equipment")
        }
        body += change("personnel.register", HTML.input("Account at the site", "account") + HTML.input("Full name", "person")
                           + HTML.select("Role", "person_role", PersonnelRole.allCases.map(\.rawValue))
                           + HTML.input("GxP training (YYYY-MM-DD)", "training_date"), "Register a person")
        if !file.personnel.isEmpty {
            body += change("personnel.training", HTML.select("Account", "account", file.personnel.map(\.account))
                               + HTML.input("GxP training (YYYY-MM-DD)", "training_date"), "Record a training")
            body += change("personnel.retire", HTML.select("Account", "account", file.personnel.map(\.account)), "Remove a person")
        }
        body += change("site.qualification", HTML.select("State", "state", QualificationState.allCases.map(\.rawValue).filter { $0 != file.record.qualification.rawValue }),
                       "Change the qualification")
        body += change("site.role", HTML.select("Role", "role", SiteRole.allCases.map(\.rawValue), selected: file.record.role.rawValue)
                           + HTML.input("Qualification batches", "required_batches", value: String(file.record.requiredBatches)), "Change the role")
        return body
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
