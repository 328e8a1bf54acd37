import Hashing
import POCareCore

/// What a consumer needs to read the records without the site's files: each device's profile
/// (names, units, types, enumeration labels) and each spec by fingerprint, both retained.
extension Topics {
    public func metadata(_ device: String) -> String { "\(prefix)/\(device)/meta" }
    /// A spec's topic: the hex digits of its fingerprint (without `sha256:`).
    public func spec(_ fingerprint: String) -> String {
        "\(prefix)/specs/\(fingerprint.hasPrefix("sha256:") ? String(fingerprint.dropFirst(7)) : fingerprint)"
    }
}

extension Contract {
    /// A retained message ready to publish, with the fingerprint that says whether it changed.
    public struct RetainedMessage: Sendable, Hashable {
        /// The device (for metadata).
        public var key: String
        public var payload: [UInt8]
        public var fingerprint: String
        public init(key: String, payload: [UInt8], fingerprint: String) {
            self.key = key
            self.payload = payload
            self.fingerprint = fingerprint
        }
    }

    /// What the link keeps retained at the broker besides the status.
    public struct Retained: Sendable {
        public var metadata: [RetainedMessage]
        public var specs: [IPCSpec]
        /// Per device, the enumerated parameters' labels by engineering value, for telemetry.
        public var labels: [String: Labels]
        public init(metadata: [RetainedMessage] = [], specs: [IPCSpec] = [], labels: [String: Labels] = [:]) {
            self.metadata = metadata
            self.specs = specs
            self.labels = labels
        }
    }

    /// A device's enumeration labels by parameter id and engineering value (the code scaled as
    /// the profile scales it), so an enumerated value travels as its label.
    public typealias Labels = [String: [Double: String]]

    public static func labels(of profile: DeviceProfile) -> Labels {
        var result: Labels = [:]
        for parameter in profile.parameters {
            guard let enumeration = parameter.enumeration else { continue }
            var byValue: [Double: String] = [:]
            for (code, label) in enumeration { byValue[Double(code) * parameter.scale + parameter.offset] = label }
            result[parameter.id] = byValue
        }
        return result
    }

    /// One device's metadata, as published on `…/{device}/meta`.
    public struct DeviceMetadata: Sendable, Hashable {
        public var device: String
        public var profile: DeviceProfile
        /// `ProfileFingerprint.of(profile)`.
        public var profileFingerprint: String
        /// What the device itself reports, where its profile maps it.
        public var serialNumber: String?
        public var firmwareVersion: String?

        public init(device: String, profile: DeviceProfile, profileFingerprint: String, serialNumber: String? = nil,
                    firmwareVersion: String? = nil) {
            self.device = device
            self.profile = profile
            self.profileFingerprint = profileFingerprint
            self.serialNumber = serialNumber
            self.firmwareVersion = firmwareVersion
        }

        /// The payload and its fingerprint: `sha256:` over the payload's bytes without the
        /// `fingerprint` field (the message is `{"fingerprint":…,` followed by those bytes' rest).
        public func message(site: String) -> (payload: [UInt8], fingerprint: String) {
            var w = JSONWriter(capacity: 256 + profile.parameters.count * 160)
            w.raw("\"schema\":\"\(Topics.schemaVersion)/meta\",\"site\":")
            w.string(site)
            w.raw(",\"device\":")
            w.string(device)
            w.raw(",\"profile\":{\"id\":")
            w.string(profile.id)
            w.raw(",\"vendor\":")
            w.string(profile.vendor)
            w.raw(",\"model\":")
            w.string(profile.model)
            w.raw(",\"firmware\":")
            w.string(profile.firmware)
            w.raw(",\"fingerprint\":")
            w.string(profileFingerprint)
            w.raw("},\"reported\":{\"serial_number\":")
            w.optional(serialNumber)
            w.raw(",\"firmware_version\":")
            w.optional(firmwareVersion)
            w.raw("},\"parameters\":[")
            for (n, p) in profile.parameters.enumerated() {
                if n > 0 { w.raw(0x2C) }
                w.raw("{\"id\":")
                w.string(p.id)
                w.raw(",\"name\":")
                w.string(p.name)
                w.raw(",\"unit\":")
                w.string(p.unit)
                w.raw(",\"type\":")
                w.string(p.dataType.profileName)
                w.raw(",\"value\":")
                w.string(Contract.wireKind(of: p))
                w.raw(",\"writable\":")
                w.raw(p.writable ? "true" : "false")
                w.raw(",\"enumeration\":")
                if let labels = p.enumeration {
                    w.raw("{")
                    for (k, entry) in labels.sorted(by: { $0.key < $1.key }).enumerated() {
                        if k > 0 { w.raw(0x2C) }
                        w.key(String(entry.key))
                        w.string(entry.value)
                    }
                    w.raw("}")
                } else {
                    w.raw("null")
                }
                w.raw("}")
            }
            w.raw("]}")
            let fingerprint = "sha256:" + SHA256.hex(w.bytes)
            var message = Array("{\"fingerprint\":\"\(fingerprint)\",".utf8)
            message.append(contentsOf: w.bytes)
            return (message, fingerprint)
        }
    }

    /// How a parameter's value travels in telemetry `values`: `label` (an enumerated code as its
    /// label), `boolean`, `text` or `number`.
    public static func wireKind(of parameter: Parameter) -> String {
        if parameter.enumeration != nil { return "label" }
        switch parameter.dataType {
        case .bool, .bit: return "boolean"
        case .string: return "text"
        default: return "number"
        }
    }

    /// One spec, as published on `…/specs/{hex}`: its identity for display, and its canonical
    /// form, whose SHA-256 is the fingerprint (a consumer recomputes it over the UTF-8 bytes).
    public static func spec(site: String, spec: IPCSpec) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + spec.canonicalForm.utf8.count * 2)
        w.raw("{\"schema\":\"\(Topics.schemaVersion)/spec\",\"site\":")
        w.string(site)
        w.raw(",\"fingerprint\":")
        w.string(spec.fingerprint)
        let id = spec.identity
        w.raw(",\"identity\":{\"product\":")
        w.string(id.product)
        w.raw(",\"process\":")
        w.string(id.process)
        w.raw(",\"document\":")
        w.string(id.documentId)
        w.raw(",\"version\":")
        w.string(id.version)
        w.raw(",\"approved_by\":")
        w.string(id.approvedBy)
        w.raw(",\"approval_date\":")
        w.string(id.approvalDate)
        w.raw(",\"change_control\":")
        w.string(id.changeControl)
        w.raw(",\"profiles\":[")
        for (n, profile) in id.profiles.enumerated() {
            if n > 0 { w.raw(0x2C) }
            w.string(profile)
        }
        w.raw("]},\"canonical\":")
        w.string(spec.canonicalForm)
        w.raw("}")
        return w.bytes
    }

    /// Checks a metadata message as a consumer must: the fingerprint it names (its leading
    /// field) against SHA-256 over the bytes after that field. Nil when the message does not
    /// start with a fingerprint at all.
    public static func checkMetadata(_ payload: [UInt8]) -> (named: String, computed: String)? {
        let lead = Array("{\"fingerprint\":\"".utf8)
        // The fingerprint, its closing quote and the comma that ends the field.
        guard payload.count >= lead.count + 73, payload.starts(with: lead) else { return nil }
        let nameEnd = lead.count + 71  // "sha256:" and 64 hex digits
        guard payload[nameEnd] == UInt8(ascii: "\""), payload[nameEnd + 1] == UInt8(ascii: ",") else { return nil }
        let named = String(decoding: payload[lead.count..<nameEnd], as: UTF8.self)
        guard named.hasPrefix("sha256:") else { return nil }
        let computed = "sha256:" + SHA256.hex(payload[(nameEnd + 2)...])
        return (named, computed)
    }

    /// The fingerprint of a spec's canonical form, as the site computes it.
    public static func specFingerprint(canonical: String) -> String {
        "sha256:" + SHA256.hex(canonical)
    }
}
