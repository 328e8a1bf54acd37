import Hashing
import POCareCore

/// A fingerprint of a device profile's content, so a record can name the exact register map its
/// values were read with. Like a spec's, it hashes a canonical form of the parsed values
/// (`pocare-device-profile/1`), not the file: comments and layout do not change it, any change
/// of an address, type, scale, unit or label does.
public enum ProfileFingerprint {
    public static func canonicalForm(_ profile: DeviceProfile) -> String {
        func string(_ s: String) -> String { CanonicalJSON.string(s) }
        func number(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : "\(d)" }
        let parameters = profile.parameters.sorted { $0.id < $1.id }.map { p in
            CanonicalJSON.object([
                ("address", String(p.address)),
                ("enum", p.enumeration.map { labels in
                    CanonicalJSON.object(labels.sorted { $0.key < $1.key }.map { (String($0.key), string($0.value)) })
                } ?? "null"),
                ("id", string(p.id)),
                ("name", string(p.name)),
                ("offset", number(p.offset)),
                ("scale", number(p.scale)),
                ("table", string(p.table.rawValue)),
                ("type", string(p.dataType.profileName)),
                ("unit", string(p.unit)),
                ("word_order", string(p.wordOrder.rawValue)),
            ])
        }
        return CanonicalJSON.object([
            ("firmware", string(profile.firmware)),
            ("form", string("pocare-device-profile/1")),
            ("model", string(profile.model)),
            ("parameters", CanonicalJSON.array(parameters)),
            ("profile", string(profile.id)),
            ("unit_id", String(profile.modbus.unitId)),
            ("vendor", string(profile.vendor)),
        ])
    }

    /// `sha256:` and the hex SHA-256 of the canonical form.
    public static func of(_ profile: DeviceProfile) -> String { "sha256:" + SHA256.hex(canonicalForm(profile)) }
}
