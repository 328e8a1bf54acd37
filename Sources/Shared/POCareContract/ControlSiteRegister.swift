import Foundation
import Hashing
import POCareCore

/// A register the Control Site's QA decides and every site enforces: which IPC specs are
/// released (kind `specs`), and later which people are trained and which equipment is
/// registered. The Control Site publishes each, retained, on `{root}/{site}/register/{kind}`;
/// the site keeps every version it accepts and enforces the latest, also while offline.
///
/// The message carries the register's version (a whole number that grows with every change),
/// who released this version (full name, user, time, meaning) and its own hash: the SHA-256 of
/// the register's canonical form (`canonicalForm`, docs/mqtt.md). A site refuses a register
/// whose hash does not match or whose version is not newer than the one it holds.
///
/// Self-contained (Foundation, POCareCore, Hashing): encoded by the Control Site, decoded by
/// the site, in this one file.
public struct ControlSiteRegister: Sendable, Hashable {
    /// The version of the canonical form the hash covers.
    public static let form = "pocare-register/1"
    public static let schema = "pocare/v1/register"
    /// A register larger than this is refused unread.
    public static let maxPayloadBytes = 8 << 20
    public static let maxEntries = 20_000
    /// Objects and arrays nest at most this deep (a spec entry needs three).
    public static let maxDepth = 16

    /// Who released this version of the register, and what the release means.
    public struct Signature: Sendable, Hashable {
        /// The person's full name, as the signature shows it.
        public var name: String
        /// The account the person acted under at the Control Site.
        public var user: String
        /// UTC time of the signature, ISO 8601 with milliseconds.
        public var time: String
        /// What the signer declared, e.g. `released sha256:… (IPC-CART-001 version 1.0): CC-0042`.
        public var meaning: String

        public init(name: String, user: String, time: String, meaning: String) {
            self.name = name
            self.user = user
            self.time = time
            self.meaning = meaning
        }
    }

    /// `specs`, `personnel`, `equipment`: lower-case letters, digits and `_`.
    public var kind: String
    public var version: Int64
    public var signedBy: Signature
    /// One JSON object per entry; the meaning of its fields depends on the kind.
    public var entries: [RegisterValue]

    public init(kind: String, version: Int64, signedBy: Signature, entries: [RegisterValue]) {
        self.kind = kind
        self.version = version
        self.signedBy = signedBy
        self.entries = entries
    }

    /// The register as one JSON value: what the canonical form writes and the message carries.
    public var value: RegisterValue {
        .object([
            "form": .string(Self.form), "kind": .string(kind), "version": .integer(version),
            "signed_by": .object([
                "name": .string(signedBy.name), "user": .string(signedBy.user), "time": .string(signedBy.time),
                "meaning": .string(signedBy.meaning),
            ]),
            "entries": .array(entries),
        ])
    }

    /// Compact JSON with object keys sorted by their UTF-8 bytes, strings escaped as
    /// `CanonicalJSON` escapes them, numbers as whole decimal numbers, no whitespace.
    public var canonicalForm: String { value.canonical }

    /// `sha256:` and the hex SHA-256 of the canonical form.
    public var hash: String { "sha256:" + SHA256.hex(canonicalForm) }

    /// The retained message for one site's `register/{kind}` topic.
    public func message(site: String) -> [UInt8] {
        let canonical = canonicalForm
        let text = "{\"schema\":\(CanonicalJSON.string(Self.schema)),\"site\":\(CanonicalJSON.string(site)),"
            + "\"hash\":\(CanonicalJSON.string("sha256:" + SHA256.hex(canonical))),\"register\":\(canonical)}"
        return Array(text.utf8)
    }

    public static func topic(root: String, site: String, kind: String) -> String { "\(root)/\(site)/register/\(kind)" }

    /// Reads a register addressed to `site` on the topic of `kind`, and checks its hash. What
    /// is refused says why; the caller keeps the register it held.
    public static func decode(_ payload: [UInt8], site: String, kind: String) -> Result<ControlSiteRegister, RegisterRefusal> {
        guard payload.count <= maxPayloadBytes else { return .failure(.init("larger than \(maxPayloadBytes) bytes")) }
        // The envelope and the register object add two levels to the entries' own.
        guard let depth = nestingDepth(payload), depth <= maxDepth + 2 else {
            return .failure(.init("not JSON, or nested deeper than \(maxDepth) levels"))
        }
        let envelope: RegisterValue
        do {
            envelope = try JSONDecoder().decode(RegisterValue.self, from: Data(payload))
        } catch {
            return .failure(.init("not a register: \(Self.describe(error))"))
        }
        guard case .object(let fields) = envelope else { return .failure(.init("not a JSON object")) }
        guard fields["schema"]?.string == schema else { return .failure(.init("schema is not \(schema)")) }
        guard fields["site"]?.string == site else {
            return .failure(.init("addressed to site '\(fields["site"]?.string ?? "?")', not to '\(site)'"))
        }
        guard let claimed = fields["hash"]?.string else { return .failure(.init("no hash")) }
        guard let body = fields["register"], case .object(let register) = body else { return .failure(.init("no register object")) }
        let computed = "sha256:" + SHA256.hex(body.canonical)
        guard computed == claimed else {
            return .failure(.init("its hash \(claimed) does not match its content (\(computed))"))
        }
        guard register["form"]?.string == form else { return .failure(.init("form is not \(form)")) }
        guard let registerKind = register["kind"]?.string, registerKind == kind else {
            return .failure(.init("kind '\(register["kind"]?.string ?? "?")' arrived on the topic of '\(kind)'"))
        }
        guard case .integer(let version)? = register["version"], version >= 1 else {
            return .failure(.init("version must be a whole number of at least 1"))
        }
        guard case .object(let signer)? = register["signed_by"], let name = signer["name"]?.string, !name.isEmpty,
            let user = signer["user"]?.string, let time = signer["time"]?.string, let meaning = signer["meaning"]?.string
        else { return .failure(.init("signed_by must give the signer's name, user, time and meaning")) }
        guard case .array(let entries)? = register["entries"], entries.count <= maxEntries else {
            return .failure(.init("entries must be a list of at most \(maxEntries)"))
        }
        guard entries.allSatisfy({ if case .object = $0 { true } else { false } }) else {
            return .failure(.init("every entry must be an object"))
        }
        return .success(ControlSiteRegister(
            kind: registerKind, version: version, signedBy: Signature(name: name, user: user, time: time, meaning: meaning),
            entries: entries))
    }

    /// Reads a register back from its canonical form (as the site store keeps it).
    public static func decode(canonical: String) -> ControlSiteRegister? {
        // A canonical form that does not decode is not a register: nil, as documented.
        guard let value = try? JSONDecoder().decode(RegisterValue.self, from: Data(canonical.utf8)), case .object(let r) = value,
            let kind = r["kind"]?.string, case .integer(let version)? = r["version"], case .object(let s)? = r["signed_by"],
            case .array(let entries)? = r["entries"]
        else { return nil }
        let register = ControlSiteRegister(
            kind: kind, version: version,
            signedBy: Signature(
                name: s["name"]?.string ?? "", user: s["user"]?.string ?? "", time: s["time"]?.string ?? "",
                meaning: s["meaning"]?.string ?? ""),
            entries: entries)
        return register.canonicalForm == canonical ? register : nil
    }

    /// How deep objects and arrays nest, scanning the bytes once (outside strings), so a
    /// hostile message cannot drive the decoder's recursion. Nil when brackets do not balance.
    static func nestingDepth(_ bytes: [UInt8]) -> Int? {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x7B, 0x5B:
                depth += 1
                deepest = max(deepest, depth)
                if deepest > maxDepth + 2 { return deepest }
            case 0x7D, 0x5D:
                depth -= 1
                if depth < 0 { return nil }
            default: break
            }
        }
        return depth == 0 && !inString ? deepest : nil
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return "malformed JSON"
    }
}

/// Why a register was not accepted.
public struct RegisterRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A JSON value as a register holds it: numbers are whole numbers only, so that the canonical
/// form never depends on how a library writes a fraction.
public indirect enum RegisterValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([RegisterValue])
    case object([String: RegisterValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {  // Each JSON type is tried in turn; a value that is none of them fails below with its own error.
            self = .bool(b)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let i = try? c.decode(Int64.self) {
            guard abs(i) <= 1 << 53 else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "a number in a register lies beyond ±2^53")
            }
            self = .integer(i)
        } else if let a = try? c.decode([RegisterValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: RegisterValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a number in a register must be a whole number")
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }

    public var strings: [String]? {
        guard case .array(let items) = self else { return nil }
        let texts = items.compactMap(\.string)
        return texts.count == items.count ? texts : nil
    }

    /// The canonical text (see `ControlSiteRegister.canonicalForm`).
    public var canonical: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .string(let s): out += CanonicalJSON.string(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, key) in fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out += "," }
                out += CanonicalJSON.string(key)
                out += ":"
                fields[key]!.write(into: &out)
            }
            out += "}"
        }
    }
}

/// One entry of the `specs` register: a spec by fingerprint, the equipment models (device
/// profiles) it is released for, and whether it is released or retired, by whom and when.
/// `source` is the spec file as QA released it, so a site can start a batch under it by
/// fingerprint alone.
public struct ReleasedSpecEntry: Sendable, Hashable {
    public enum State: String, Sendable, Hashable { case released, retired }

    public var fingerprint: String
    public var document: String
    public var documentVersion: String
    public var profiles: [String]
    public var state: State
    public var releasedBy: String
    public var releasedAt: String
    public var retiredBy: String?
    public var retiredAt: String?
    /// Why it was released, or why retired.
    public var reason: String
    public var source: String

    public init(
        fingerprint: String, document: String, documentVersion: String, profiles: [String], state: State, releasedBy: String,
        releasedAt: String, retiredBy: String? = nil, retiredAt: String? = nil, reason: String, source: String
    ) {
        self.fingerprint = fingerprint
        self.document = document
        self.documentVersion = documentVersion
        self.profiles = profiles
        self.state = state
        self.releasedBy = releasedBy
        self.releasedAt = releasedAt
        self.retiredBy = retiredBy
        self.retiredAt = retiredAt
        self.reason = reason
        self.source = source
    }

    public static let kind = "specs"

    public var value: RegisterValue {
        .object([
            "fingerprint": .string(fingerprint), "document": .string(document), "document_version": .string(documentVersion),
            "profiles": .array(profiles.sorted().map(RegisterValue.string)), "state": .string(state.rawValue),
            "released_by": .string(releasedBy), "released_at": .string(releasedAt),
            "retired_by": retiredBy.map(RegisterValue.string) ?? .null, "retired_at": retiredAt.map(RegisterValue.string) ?? .null,
            "reason": .string(reason), "source": .string(source),
        ])
    }

    /// Reads an entry; nil when a required field is missing or of the wrong type.
    public init?(_ value: RegisterValue) {
        guard case .object(let f) = value, let fingerprint = f["fingerprint"]?.string, let document = f["document"]?.string,
            let version = f["document_version"]?.string, let profiles = f["profiles"]?.strings,
            let state = f["state"]?.string.flatMap(State.init(rawValue:)), let releasedBy = f["released_by"]?.string,
            let releasedAt = f["released_at"]?.string, let reason = f["reason"]?.string, let source = f["source"]?.string
        else { return nil }
        self.init(
            fingerprint: fingerprint, document: document, documentVersion: version, profiles: profiles, state: state,
            releasedBy: releasedBy, releasedAt: releasedAt, retiredBy: f["retired_by"]?.string, retiredAt: f["retired_at"]?.string,
            reason: reason, source: source)
    }
}

extension Topics {
    /// The site's registers, one retained topic per kind: `…/register/{kind}`.
    public var registers: String { "\(prefix)/register/+" }
    public func register(_ kind: String) -> String { "\(prefix)/register/\(kind)" }
}
