import POCareCore
import Testing

@Suite("Fingerprints as people type them")
struct FingerprintReferenceTests {
    let known = [
        "sha256:d1f4f504f885a6adadfceea1f5bd2c4358aff9e65f945738568526891bbfad3d",
        "sha256:d1f4f504f885ffffdfceea1f5bd2c4358aff9e65f945738568526891bbfad3d",
        "sha256:0123456789ab0000000000000000000000000000000000000000000000000000",
    ]

    @Test("in full, or 12 or more hex digits with or without sha256:, where they name one")
    func accepted() throws {
        #expect(try FingerprintReference.resolve(known[0], among: known).get() == known[0])
        #expect(try FingerprintReference.resolve("0123456789AB", among: known).get() == known[2], "upper case is the same digits")
        #expect(try FingerprintReference.resolve("sha256:d1f4f504f885a", among: known).get() == known[0])
    }

    @Test("fewer than 12 digits, more than one match, no match or not hex: refused, saying which")
    func refused() {
        func refusal(_ text: String) -> String {
            if case .failure(let r) = FingerprintReference.resolve(text, among: known) { return r.description }
            return "accepted"
        }
        #expect(refusal("0123456789a").contains("at least 12 hex digits"))
        #expect(refusal("d1f4f504f885").contains("matches 2 specs"))
        #expect(refusal("ffffffffffff").contains("no spec known here"))
        #expect(refusal("sha256:xyz123456789").contains("not a fingerprint"))
        #expect(refusal(String(repeating: "a", count: 65)).contains("more than 64"))
    }

    @Test("a file name is not taken for a fingerprint")
    func filesAreFiles() {
        #expect(!FingerprintReference.looksLikeFingerprint("specs/cart.yaml"))
        #expect(FingerprintReference.looksLikeFingerprint("d1f4f504f885"))
        #expect(FingerprintReference.looksLikeFingerprint("sha256:d1f4"))
    }
}
