/// Why the quality system refused an action, by kind, so every caller answers alike: the
/// pages map the kind to an HTTP status, the commands print the message and exit 1.
public struct QualityRefusal: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A field is missing, too long or not one of the allowed values.
        case invalidInput
        /// The password entered with the action is not the user's.
        case notAuthenticated
        /// The user's role, or who they are, does not allow the action (a requester approving
        /// their own change, a viewer signing, the QP who reviewed certifying).
        case notPermitted
        /// No such change, deviation, comparison, batch or site.
        case notFound
        /// The record's state does not allow the action now (a running batch, an open deviation,
        /// a change already decided).
        case stateConflict
        /// The record changed since the user opened it: what they were shown is not what they would sign.
        case recordChanged
        /// Too many wrong passwords lately: the password was not checked; try again later.
        case throttled
    }

    public var kind: Kind
    public var message: String
    /// For `throttled`: the seconds before a password is checked again.
    public var retryAfterSeconds: Int?
    public var description: String { message }

    public init(_ kind: Kind, _ message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The HTTP status a page answers with.
    public var httpStatus: Int {
        switch kind {
        case .invalidInput: 400
        case .notAuthenticated: 401
        case .notPermitted: 403
        case .notFound: 404
        case .stateConflict, .recordChanged: 409
        case .throttled: 429
        }
    }

    /// The audit trail's word for it.
    public var auditReason: String {
        switch kind {
        case .invalidInput: "invalid input: \(message)"
        case .notAuthenticated: "wrong password"
        case .notPermitted: "not permitted: \(message)"
        case .notFound: "not found: \(message)"
        case .stateConflict: "refused: \(message)"
        case .recordChanged: "record changed: \(message)"
        case .throttled: "throttled: \(message)"
        }
    }
}

/// Free text a person enters (a reason, a comment, an investigation): trimmed, bounded.
enum FreeText {
    static func required(_ text: String, _ field: String, limit: Int = 4000) throws(QualityRefusal) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw QualityRefusal(.invalidInput, "\(field) is required") }
        return try optional(trimmed, field, limit: limit)
    }

    static func optional(_ text: String, _ field: String, limit: Int = 4000) throws(QualityRefusal) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= limit else { throw QualityRefusal(.invalidInput, "\(field) is longer than \(limit) characters") }
        guard !trimmed.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) else {
            throw QualityRefusal(.invalidInput, "\(field) contains control characters")
        }
        return trimmed
    }
}

import Foundation
