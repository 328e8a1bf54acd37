import Hashing

/// A checkpoint: the site's signature over the head (stream, seq, hash) of each of its hash
/// chains at one moment (docs/mqtt.md, "Checkpoints"). The site commits it to its store as an
/// event of kind `checkpoint` on its `site/events` stream, so it travels, is replayed and is
/// chained like any record; its body is this JSON, and the signature covers the body's bytes
/// before `,"signature":`:
///
///     {"kind":"checkpoint","time":T,"device":"site","site":S,"epoch":E,"reason":R,"signed_ns":N,"key":"ed25519:<hex>",
///      "chains":[{"stream":…,"seq":…,"hash":…[,"pruned_through":P]},…],"signature":"<128 hex digits>"}
///
/// Chains are in stream-name order. Since each record's hash covers the one before it, a signed
/// head vouches for every record of its stream up to it. `pruned_through` (added in v1, absent
/// when nothing of the stream was pruned) is the last number the store no longer holds: the
/// site's signed word for a replay answer "pruned", which the Control Site takes only with it.
public struct Checkpoint: Sendable, Hashable {
    public struct Chain: Sendable, Hashable {
        public var stream: String
        public var seq: Int64
        public var hash: String
        /// The last number of the stream the store has pruned; nil: none.
        public var prunedThrough: Int64?
        public init(stream: String, seq: Int64, hash: String, prunedThrough: Int64? = nil) {
            self.stream = stream
            self.seq = seq
            self.hash = hash
            self.prunedThrough = prunedThrough.flatMap { $0 > 0 ? $0 : nil }
        }
    }

    public static let eventKind = "checkpoint"

    public var site: String
    public var epoch: String
    /// Why it was made: `interval` (at least every minute), `batch_end`, `stop`.
    public var reason: String
    public var signedNanoseconds: Int64
    public var key: String
    public var chains: [Chain]

    public init(site: String, epoch: String, reason: String, signedNanoseconds: Int64, key: String, chains: [Chain]) {
        self.site = site
        self.epoch = epoch
        self.reason = reason
        self.signedNanoseconds = signedNanoseconds
        self.key = key
        self.chains = chains.sorted { $0.stream < $1.stream }
    }

    /// The bytes the signature covers.
    public var signedBytes: [UInt8] {
        var w = JSONWriter(capacity: 256 + chains.count * 120)
        // The fields every event body has, so the body reads as an event too.
        w.raw("{\"kind\":\"checkpoint\",\"time\":")
        w.time(nanoseconds: signedNanoseconds)
        w.raw(",\"device\":\"site\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.string(epoch)
        w.raw(",\"reason\":")
        w.string(reason)
        w.raw(",\"signed_ns\":")
        w.signed(signedNanoseconds)
        w.raw(",\"key\":")
        w.string(key)
        w.raw(",\"chains\":[")
        for (n, chain) in chains.enumerated() {
            if n > 0 { w.raw(0x2C) }
            w.raw("{\"stream\":")
            w.string(chain.stream)
            w.raw(",\"seq\":")
            w.signed(chain.seq)
            w.raw(",\"hash\":")
            w.string(chain.hash)
            if let pruned = chain.prunedThrough {
                w.raw(",\"pruned_through\":")
                w.signed(pruned)
            }
            w.raw("}")
        }
        w.raw("]")
        return w.bytes
    }

    /// The signed body, as the site stores it.
    public func signed(with key: Ed25519.PrivateKey) throws(Ed25519.Failure) -> String {
        let bytes = signedBytes
        let signature = try key.sign(bytes)
        return String(decoding: bytes, as: UTF8.self) + ",\"signature\":\"" + Hex.encode(signature) + "\"}"
    }

    /// A checkpoint body read back, with what its signature covers.
    public struct Received: Sendable {
        public var checkpoint: Checkpoint
        public var signedBytes: ArraySlice<UInt8>
        public var signature: [UInt8]

        /// Whether `key` signed it (the caller checks the key is the site's at `signedNanoseconds`).
        public func isSigned(by key: Ed25519.PublicKey) -> Bool { key.verifies(signature, of: Array(signedBytes)) }
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a checkpoint body (an event's `event` field).
    public static func read(_ body: ArraySlice<UInt8>) throws(Malformed) -> Received {
        let fields: JSONFields
        do { fields = try JSONFields(body) } catch { throw Malformed(description: "checkpoint: \(error)") }
        guard let site = fields.string("site"), let epoch = fields.string("epoch"), let reason = fields.string("reason"),
            let signedNanoseconds = fields.int("signed_ns"), let key = fields.string("key"),
            let signatureText = fields.string("signature"), let signature = Hex.decode(signatureText), signature.count == 64
        else { throw Malformed(description: "a checkpoint needs site, epoch, reason, signed_ns, key and a 64-byte signature") }
        let marker = Array(",\"signature\":".utf8)
        guard let end = lastRange(of: marker, in: body) else { throw Malformed(description: "checkpoint without its signature field") }
        var chains: [Chain] = []
        do {
            for element in try fields.arrayElements("chains") ?? [] {
                let chain = try JSONFields(element)
                guard let stream = chain.string("stream"), let seq = chain.int("seq"), let hash = chain.string("hash") else {
                    throw Malformed(description: "a checkpoint chain needs stream, seq and hash")
                }
                let pruned = chain.int("pruned_through")
                if chain.raw("pruned_through") != nil, !(1...max(1, seq)).contains(pruned ?? 0) {
                    throw Malformed(description: "a checkpoint chain's pruned_through must be a number from 1 to its seq")
                }
                chains.append(Chain(stream: stream, seq: seq, hash: hash, prunedThrough: pruned))
            }
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "checkpoint chains: \(error)")
        }
        let checkpoint = Checkpoint(site: site, epoch: epoch, reason: reason, signedNanoseconds: signedNanoseconds, key: key, chains: chains)
        return Received(checkpoint: checkpoint, signedBytes: body[body.startIndex..<end], signature: signature)
    }

    static func lastRange(of marker: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        var start = bytes.endIndex - marker.count
        while start >= bytes.startIndex {
            if bytes[start..<(start + marker.count)].elementsEqual(marker) { return start }
            start -= 1
        }
        return nil
    }
}
