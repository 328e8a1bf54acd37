import ControlSiteRecords
import Hashing
import Foundation

/// QA's electronic signature of a stored comparison report (21 CFR 11.50/11.70; the QMS's
/// "comparability report: which batches, which method, which result, signed"): full name,
/// time, meaning, comment, given by re-entering the password, bound to the report's SHA-256 as
/// the signer was shown it (the form carries it). Only QA signs a comparison.
public enum ComparisonSignatures {
    public enum Meaning: String, Sendable, CaseIterable {
        case approved
        case rejected
    }

    public static func sign(
        report id: Int64, shownHash: String, userName: String, password: String, meaning: Meaning, comment: String,
        throttle: (any PasswordThrottle)? = nil, on connection: PostgresConnection
    ) throws -> StoredComparisons.Signature {
        let trimmed = comment.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= 4000 else { throw QualityRefusal(.invalidInput, "the comment is longer than 4000 characters") }
        // The password first, throttled like every signature (`Signer.authenticate`); then the role.
        let user = try Signer.authenticate(userName: userName, password: password, roles: Set(WebUsers.Role.allCases), action: "comparison.sign",
                                           target: "comparison/\(id)", throttle: throttle, on: connection)
        guard user.role == .qa else {
            try refused(userName, id, "role \(user.role.rawValue) may not sign a comparison", meaning, on: connection)
            throw QualityRefusal(.notPermitted, "only QA signs a comparison report (your role: \(user.role.rawValue))")
        }
        // A stored report never changes (the database refuses it), so what is checked here is what is signed.
        guard let (entry, _) = try StoredComparisons.find(id, on: connection) else {
            throw QualityRefusal(.notFound, "no stored comparison \(id)")
        }
        guard entry.intact else {
            try refused(userName, id, "the stored report no longer hashes to its recorded hash", meaning, on: connection)
            throw QualityRefusal(.recordChanged, "the stored report no longer hashes to its recorded hash; nothing was signed")
        }
        guard entry.reportHash == shownHash else {
            try refused(userName, id, "the report is not the one shown", meaning, on: connection)
            throw QualityRefusal(.recordChanged, "the record changed since you opened it: the report is not the one you were shown; reload it and sign again")
        }
        return try connection.transaction {
            let row = try connection.execute("""
                INSERT INTO comparison_signatures (report_id, user_name, full_name, role, meaning, comment, signed, report_hash)
                VALUES ($1, $2, $3, $4, $5, $6, now(), $7)
                RETURNING id, to_char(signed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS signed
                """, [String(id), user.userName, user.fullName, user.role.rawValue, meaning.rawValue, trimmed, entry.reportHash])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "comparison.sign", target: "comparison/\(id)", reason: trimmed.isEmpty ? nil : trimmed,
                newValue: "\(meaning.rawValue) by \(user.fullName) (\(user.role.rawValue)), report sha256:\(entry.reportHash)"), to: connection)
            // An approved comparison that found a site comparable may complete its qualification.
            if meaning == .approved {
                for (site, verdict) in entry.verdicts where verdict == "comparable" { try Qualification.refresh(site: site, by: user.userName, on: connection) }
            }
            return StoredComparisons.Signature(
                id: row.int(0, "id") ?? 0, userName: user.userName, fullName: user.fullName, role: user.role.rawValue, meaning: meaning.rawValue,
                comment: trimmed, signed: row.string(0, "signed") ?? "", reportHash: entry.reportHash, valid: true)
        }
    }

    static func refused(_ user: String, _ id: Int64, _ why: String, _ meaning: Meaning, on connection: PostgresConnection) throws {
        _ = try connection.transaction {
            try ControlAuditTrail.append(ControlAuditAction(
                user: user, action: "comparison.sign.refused", target: "comparison/\(id)", reason: why, newValue: meaning.rawValue), to: connection)
        }
    }
}
