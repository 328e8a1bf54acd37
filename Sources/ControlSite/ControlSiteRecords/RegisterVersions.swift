import POCareContract
import Foundation
import POCareCore
import Yams

/// The versions of the registers the Control Site publishes to its sites. A version is made
/// when what QA decided changes (a spec released or retired): it carries the whole register,
/// who made the change that produced it (full name, user, time, meaning), and its hash.
public enum RegisterVersions {
    /// The advisory lock under which one instance at a time makes a version.
    static let lock = 7_146_354

    /// The released-spec register as QA's decisions in PostgreSQL say it is now: every spec
    /// released or retired, by fingerprint, with the equipment models (profiles) it names.
    static func releasedSpecEntries(_ connection: PostgresConnection) throws -> [ReleasedSpecEntry] {
        let result = try connection.execute("""
            SELECT fingerprint, document, version, spec_text, \(SQLTime.iso("released")) AS released_at, released_by, release_reason,
                   \(SQLTime.iso("retired")) AS retired_at, retired_by, retire_reason
            FROM released_specs ORDER BY fingerprint
            """)
        return (0..<result.rowCount).map { r in
            let text = result.string(r, "spec_text") ?? ""
            let retiredAt = result.string(r, "retired_at")
            return ReleasedSpecEntry(
                fingerprint: result.string(r, "fingerprint") ?? "", document: result.string(r, "document") ?? "",
                documentVersion: result.string(r, "version") ?? "", profiles: profiles(ofSpec: text),
                state: retiredAt == nil ? .released : .retired, releasedBy: result.string(r, "released_by") ?? "",
                releasedAt: result.string(r, "released_at") ?? "", retiredBy: result.string(r, "retired_by"), retiredAt: retiredAt,
                reason: (retiredAt == nil ? result.string(r, "release_reason") : result.string(r, "retire_reason")) ?? "", source: text)
        }
    }

    /// The equipment models a spec is released for: the device profiles it names (`spec.profiles`).
    static func profiles(ofSpec text: String) -> [String] {
        // The text was validated when it was released; a text that no longer reads names none.
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any], let identity = root["spec"] as? [String: Any] else { return [] }
        return ((identity["profiles"] as? [Any]) ?? []).compactMap { $0 as? String }.sorted()
    }

    /// The latest change QA made to the released specs: who, when, and what it means.
    static func lastSpecDecision(_ connection: PostgresConnection) throws -> (signature: ControlSiteRegister.Signature, change: Int64?)? {
        let result = try connection.execute("""
            WITH decisions AS (
                SELECT fingerprint, document, version, released AS at, released_by AS user_name, 'released' AS action,
                       release_reason AS reason, release_change AS change FROM released_specs
                UNION ALL
                SELECT fingerprint, document, version, retired, retired_by, 'retired', retire_reason, retire_change FROM released_specs
                WHERE retired IS NOT NULL)
            SELECT d.fingerprint, d.document, d.version, \(SQLTime.iso("d.at")) AS signed_at, d.user_name, d.action, d.reason, d.change,
                   coalesce(u.full_name, d.user_name) AS full_name
            FROM decisions d LEFT JOIN web_users u ON u.user_name = d.user_name
            ORDER BY d.at DESC, d.action DESC LIMIT 1
            """)
        guard result.rowCount == 1 else { return nil }
        // The change control approval the decision is (every release and retirement is one).
        let change = result.int(0, "change")
        let meaning = "\(result.string(0, "action") ?? "") \(result.string(0, "fingerprint") ?? "") (\(result.string(0, "document") ?? "") version \(result.string(0, "version") ?? "")): "
            + (change.map { "CC-\($0) approved: " } ?? "") + (result.string(0, "reason") ?? "")
        return (ControlSiteRegister.Signature(
            name: result.string(0, "full_name") ?? "", user: result.string(0, "user_name") ?? "", time: result.string(0, "signed_at") ?? "",
            meaning: meaning), change)
    }

    /// Makes a new version of the released-spec register when QA's decisions changed since
    /// the last one (audited), and returns the latest version; nil while nothing was ever released.
    public static func currentSpecRegister(_ connection: PostgresConnection) throws -> ControlSiteRegister? {
        try connection.transaction {
            try connection.execute("SELECT pg_advisory_xact_lock(\(lock))")
            let entries = try releasedSpecEntries(connection)
            let entriesForm = RegisterValue.array(entries.map(\.value)).canonical
            let latest = try connection.execute("""
                SELECT version, entries, canonical FROM register_versions WHERE kind = $1 AND site = '' ORDER BY version DESC LIMIT 1
                """, [ReleasedSpecEntry.kind])
            if latest.rowCount == 1, latest.string(0, "entries") == entriesForm {
                return latest.string(0, "canonical").flatMap(ControlSiteRegister.decode(canonical:))
            }
            guard !entries.isEmpty, let (signer, change) = try lastSpecDecision(connection) else { return nil }
            let version = (latest.rowCount == 1 ? latest.int(0, "version") ?? 0 : 0) + 1
            let register = ControlSiteRegister(
                kind: ReleasedSpecEntry.kind, version: version, signedBy: signer, entries: entries.map(\.value))
            try connection.execute("""
                INSERT INTO register_versions (kind, version, hash, entries, canonical, signer_name, signer_user, signed_at, meaning, change_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                """, [register.kind, String(version), register.hash, entriesForm, register.canonicalForm, signer.name, signer.user,
                      signer.time, signer.meaning, change.map { String($0) }])
            try ControlAuditTrail.append(ControlAuditAction(
                user: signer.user, action: "register.version", target: "register/\(register.kind)", reason: signer.meaning,
                oldValue: latest.rowCount == 1 ? "version \(version - 1)" : nil,
                newValue: "version \(version) \(register.hash), \(entries.count) specs"), to: connection)
            return register
        }
    }
}
