import POCareContract
import Foundation
import PropertyBased
import Testing

/// The SHA-256 of a text by the system's own tool, so the register's hash is checked against
/// something other than the code that made it.
private func sha256sum(_ text: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}

private let signer = ControlSiteRegister.Signature(
    name: "Jane Roe", user: "jroe", time: "2026-11-26T03:38:15.281Z", meaning: "released sha256:ab (IPC-1 version 1): CC-0042")

private func specEntry(_ digit: Character, profiles: [String] = ["stirred-tank-str10", "rocking-bag-rb50"]) -> ReleasedSpecEntry {
    ReleasedSpecEntry(
        fingerprint: "sha256:" + String(repeating: digit, count: 64), document: "IPC-1", documentVersion: "1.0", profiles: profiles,
        state: .released, releasedBy: "jroe", releasedAt: "2026-11-26T03:38:15.281Z", reason: "CC-0042 \"approved\"\n",
        source: "spec:\n  document: IPC-1\n")
}

@Suite("The Control Site's registers on the wire")
struct ControlSiteRegisterTests {
    @Test("the canonical form sorts keys by their bytes, writes whole numbers and escapes as every canonical form does; the hash is its SHA-256")
    func canonicalForm() throws {
        let register = ControlSiteRegister(
            kind: "specs", version: 3, signedBy: signer,
            entries: [.object(["b": .integer(-2), "a": .array([.bool(true), .null, .string("x\ty")]), "B": .string("é")])])
        let expected = #"{"entries":[{"B":"é","a":[true,null,"x\ty"],"b":-2}],"form":"pocare-register/1","kind":"specs","signed_by":{"meaning":"released sha256:ab (IPC-1 version 1): CC-0042","name":"Jane Roe","time":"2026-11-26T03:38:15.281Z","user":"jroe"},"version":3}"#
        #expect(register.canonicalForm == expected)
        #expect(register.hash == "sha256:" + (try sha256sum(expected)))
    }

    @Test("a register reads back as it was sent, to the site it names, on its kind's topic")
    func roundTrip() throws {
        let register = ControlSiteRegister(
            kind: ReleasedSpecEntry.kind, version: 7, signedBy: signer, entries: [specEntry("a").value, specEntry("b").value])
        let read = try ControlSiteRegister.decode(register.message(site: "site-1"), site: "site-1", kind: "specs").get()
        #expect(read == register && read.hash == register.hash)
        #expect(read.entries.compactMap(ReleasedSpecEntry.init) == [specEntry("a"), specEntry("b")].map {
            var entry = $0
            entry.profiles.sort()
            return entry
        })
        #expect(ControlSiteRegister.decode(canonical: register.canonicalForm) == register)
        #expect(ControlSiteRegister.topic(root: "pocare/v1", site: "site-1", kind: "specs") == "pocare/v1/site-1/register/specs")
    }

    @Test("a register whose content does not hash to its hash is refused, naming both")
    func tamperedRegister() throws {
        let register = ControlSiteRegister(kind: "specs", version: 2, signedBy: signer, entries: [specEntry("a").value])
        let text = String(decoding: register.message(site: "s"), as: UTF8.self).replacingOccurrences(of: "\"released\"", with: "\"retired\"")
        let refusal = try #require(Self.refusal(Array(text.utf8)))
        #expect(refusal.contains("does not match its content") && refusal.contains(register.hash), "\(refusal)")
    }

    @Test("anything that is not a register for this site and kind is refused with the reason, never a crash")
    func hostileRegisters() throws {
        let good = ControlSiteRegister(kind: "specs", version: 1, signedBy: signer, entries: [])
        func envelope(_ register: String) -> [UInt8] {
            // A hand-made message with a correct hash, so only the named defect is wrong.
            let value = try? JSONDecoder().decode(RegisterValue.self, from: Data(register.utf8))
            let hash = value.map { "sha256:" + ((try? sha256sum($0.canonical)) ?? "") } ?? ""
            return Array(#"{"schema":"pocare/v1/register","site":"s","hash":"\#(hash)","register":\#(register)}"#.utf8)
        }
        let signed = #""signed_by":{"name":"J","user":"j","time":"t","meaning":"m"}"#
        let cases: [(String, [UInt8], String)] = [
            ("not JSON", Array("{".utf8), "not JSON"),
            ("another site", good.message(site: "other"), "addressed to site 'other'"),
            ("a fraction", envelope(#"{"form":"pocare-register/1","kind":"specs","version":1.5,\#(signed),"entries":[]}"#), "whole number"),
            ("version 0", envelope(#"{"form":"pocare-register/1","kind":"specs","version":0,\#(signed),"entries":[]}"#), "at least 1"),
            ("no signer", envelope(#"{"form":"pocare-register/1","kind":"specs","version":1,"entries":[]}"#), "signed_by"),
            ("another kind", envelope(#"{"form":"pocare-register/1","kind":"personnel","version":1,\#(signed),"entries":[]}"#), "on the topic of 'specs'"),
            ("an entry that is no object", envelope(#"{"form":"pocare-register/1","kind":"specs","version":1,\#(signed),"entries":[1]}"#), "object"),
            ("too deep", Array((String(repeating: "[", count: 40) + String(repeating: "]", count: 40)).utf8), "deeper"),
            ("too large", [UInt8](repeating: 0x20, count: ControlSiteRegister.maxPayloadBytes + 1), "larger than"),
            ("a number beyond 2^53", envelope(#"{"form":"pocare-register/1","kind":"specs","version":9007199254740993,\#(signed),"entries":[]}"#), "number"),
        ]
        for (name, payload, expected) in cases {
            let refusal = Self.refusal(payload)
            #expect(refusal?.contains(expected) == true, "\(name): \(refusal ?? "accepted")")
        }
    }

    @Test("any register of any entries survives the wire unchanged and keeps its hash")
    func anyRegister() async {
        let text = Gen.unicodeScalar(in: " "..."\u{2FF}").map(Character.init).string(of: 0...12)
        let entries = zip(text, Gen.int(in: -1000...1000), text).array(of: 0...6)
        await propertyCheck(count: 200, input: entries, Gen.int(in: 1...1_000_000)) { rows, version in
            let register = ControlSiteRegister(
                kind: "specs", version: Int64(version), signedBy: signer,
                entries: rows.map { a, n, b in .object(["name": .string(a), "count": .integer(Int64(n)), b.isEmpty ? "none" : "text": .string(b)]) })
            let read = try? ControlSiteRegister.decode(register.message(site: "s"), site: "s", kind: "specs").get()
            #expect(read == register)
            #expect(read?.hash == register.hash)
        }
    }

    static func refusal(_ payload: [UInt8]) -> String? {
        if case .failure(let refusal) = ControlSiteRegister.decode(payload, site: "s", kind: "specs") { return refusal.reason }
        return nil
    }
}
