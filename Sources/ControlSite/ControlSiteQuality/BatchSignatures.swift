import ControlSiteRecords
import Hashing
import POCareContract
import Foundation

/// Electronic signatures of batch reviews (21 CFR 11.50, 11.70, 11.200; EU GMP Annex 11 §14):
/// the signer's full name, the time (UTC), the meaning, a comment, and the SHA-256 of the
/// record as it was when signed. The password is entered again at each signing. A signature
/// whose hash no longer matches the record is shown INVALID.
public enum BatchSignatures {
    public enum Meaning: String, Sendable, Codable, CaseIterable {
        case reviewed
        case approvedForRelease = "approved for release"
        case rejected
    }

    public struct Signature: Sendable, Codable, Equatable {
        public var id: Int64
        public var userName: String
        public var fullName: String
        public var role: String
        public var meaning: String
        public var comment: String
        public var signed: String
        public var recordHash: String
        /// Whether the record still has the hash it had when signed.
        public var valid: Bool
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static func sign(site: String, batch: String, userName: String, password: String, meaning: Meaning, comment: String,
                            on connection: PostgresConnection) throws -> Signature {
        let trimmed = comment.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= 4000 else { throw Refusal("the comment is longer than 4000 characters") }
        guard let user = try WebUsers.find(userName, on: connection), !user.disabled else { throw Refusal("the user cannot sign") }
        guard user.role.maySign else { throw Refusal("the role \(user.role.rawValue) may not sign batch records") }
        guard meaning != .approvedForRelease || user.role == .qp else {
            throw Refusal("only a QP approves a batch for release")
        }
        guard PasswordHash.verify(password, against: user.passwordHash) else {
            _ = try connection.transaction {
                try ControlAuditTrail.append(ControlAuditAction(
                    user: userName, action: "batch.sign.refused", target: "\(site)/\(batch)", reason: "wrong password",
                    newValue: meaning.rawValue), to: connection)
            }
            throw Refusal("the password is not correct; nothing was signed")
        }
        return try connection.transaction {
            // The record cannot change between hashing it and storing the signature.
            try connection.execute("LOCK TABLE samples, events, batch_runs IN SHARE MODE")
            guard let hash = try BatchRecordDigest.hash(site: site, batch: batch, on: connection) else {
                throw Refusal("no records of batch \(batch) at \(site)")
            }
            let row = try connection.execute("""
                INSERT INTO batch_signatures (site, batch, user_name, full_name, role, meaning, comment, signed, record_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
                RETURNING id, to_char(signed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                """, [site, batch, user.userName, user.fullName, user.role.rawValue, meaning.rawValue, trimmed, hash])
            try ControlAuditTrail.append(ControlAuditAction(
                user: user.userName, action: "batch.sign", target: "\(site)/\(batch)", reason: trimmed.isEmpty ? nil : trimmed,
                newValue: "\(meaning.rawValue) by \(user.fullName) (\(user.role.rawValue)), record sha256:\(hash)"), to: connection)
            // A certified verification or comparability batch may complete its site's qualification.
            if meaning == .approvedForRelease { try Qualification.refresh(site: site, by: user.userName, on: connection) }
            return Signature(id: row.int(0, 0) ?? 0, userName: user.userName, fullName: user.fullName, role: user.role.rawValue,
                             meaning: meaning.rawValue, comment: trimmed, signed: row.string(0, 1) ?? "", recordHash: hash, valid: true)
        }
    }

    /// Every signature of the batch, each checked against the record's hash now.
    public static func list(site: String, batch: String, currentHash: String?, on connection: PostgresConnection) throws -> [Signature] {
        let r = try connection.execute("""
            SELECT id, user_name, full_name, role, meaning, comment,
                   to_char(signed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), record_hash
            FROM batch_signatures WHERE site = $1 AND batch = $2 ORDER BY signed, id
            """, [site, batch])
        return (0..<r.rowCount).map { i in
            let hash = r.string(i, 7) ?? ""
            return Signature(id: r.int(i, 0) ?? 0, userName: r.string(i, 1) ?? "", fullName: r.string(i, 2) ?? "", role: r.string(i, 3) ?? "",
                             meaning: r.string(i, 4) ?? "", comment: r.string(i, 5) ?? "", signed: r.string(i, 6) ?? "",
                             recordHash: hash, valid: hash == currentHash)
        }
    }
}
