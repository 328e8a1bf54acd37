import Hashing
import Testing

@Suite("SHA-256 and canonical JSON")
struct SHA256Tests {
    @Test("the FIPS 180-2 test vectors")
    func knownVectors() {
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("canonical JSON escapes what JSON requires and nothing else, so a hash never depends on the writer")
    func canonicalText() {
        #expect(CanonicalJSON.string("a\"b\\c\n") == #""a\"b\\c\n""#)
        #expect(CanonicalJSON.optional(nil) == "null")
        #expect(CanonicalJSON.object([("a", "1"), ("b", CanonicalJSON.string("x"))]) == #"{"a":1,"b":"x"}"#)
        #expect(CanonicalJSON.array(["1", "2"]) == "[1,2]")
    }
}
