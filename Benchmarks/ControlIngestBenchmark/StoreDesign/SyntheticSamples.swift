import POCareContract
import ArgumentParser
import Foundation
import POCareCore
import SiteStore

/// What the synthetic values look like, since compression depends on it.
enum DataShape: String, CaseIterable, ExpressibleByArgument {
    /// As devices deliver them: float32 registers quantised to the sensor's resolution, a scaled
    /// integer, setpoints that rarely move, a float64 counter; one value in a thousand not read.
    case plausible
    /// `pocare-control-bench`'s values: 37 + i + (seq mod 100) / 1000, computed in double.
    case sawtooth
    /// Float32 registers with noise in every mantissa bit, the float64 counter: the worst case.
    case noise
}

/// The benchmark's parameters, in the order a sample carries them.
let designParameters = ["temperature", "ph", "dissolved_oxygen", "co2", "agitation", "rocking_rate", "weight", "running_hours"]

/// One telemetry stream of the synthetic network, with its interned keys.
struct DesignStream: Sendable {
    var site: String
    var device: String
    var siteId: Int32
    var streamId: Int32
    var contextId: Int32
    var context: SampleContext
    var name: String { "\(device)/telemetry" }
}

/// A run of one stream's samples, column by column (a value that is none is NaN: the site never
/// stores a non-finite number). Shared by reference: messages are ranges of it.
final class SampleColumns {
    let stream: DesignStream
    let seqFirst: Int64
    var timeNs: [Int64] = []
    var cycle: [Int64] = []
    /// `count × parameters`, sample-major.
    var values: [Double] = []
    /// 0 good, 1 bad communication, 2 bad device; `count × parameters`.
    var quality: [UInt8] = []
    var hashes: [UInt8] = []
    /// The hash of the record before the first.
    var previousOfFirst: [UInt8]

    init(stream: DesignStream, seqFirst: Int64, previousOfFirst: [UInt8]) {
        self.stream = stream
        self.seqFirst = seqFirst
        self.previousOfFirst = previousOfFirst
    }

    var count: Int { timeNs.count }
    func seq(_ i: Int) -> Int64 { seqFirst + Int64(i) }
    func hash(_ i: Int) -> ArraySlice<UInt8> { hashes[(i * 32)..<(i * 32 + 32)] }
    func previousHash(_ i: Int) -> ArraySlice<UInt8> { i == 0 ? previousOfFirst[...] : hash(i - 1) }
    func value(_ i: Int, _ p: Int) -> Double? {
        let v = values[i * designParameters.count + p]
        return v.isNaN ? nil : v
    }

    /// Appends one sample and returns its hash, chained to the one before.
    @discardableResult
    func append(timeNs t: Int64, cycle c: Int64, values v: [Double], quality q: [UInt8], hasher: inout RecordChain.Hasher) -> [UInt8] {
        timeNs.append(t)
        cycle.append(c)
        values.append(contentsOf: v)
        quality.append(contentsOf: q)
        let previous = hex(previousHash(count - 1))
        let hash = chainHash(previous: previous, seq: seq(count - 1), timeNs: t, cycle: c, values: v[...], quality: q[...], hasher: &hasher)
        hashes.append(contentsOf: hash)
        return hash
    }

    /// The record's hash as the site computes it (`RecordChain`, docs/site-store.md).
    func chainHash(
        previous: String, seq: Int64, timeNs: Int64, cycle: Int64, values: ArraySlice<Double>, quality: ArraySlice<UInt8>,
        hasher: inout RecordChain.Hasher
    ) -> [UInt8] {
        bytes(hexText: hasher.sample(
            previous: previous, stream: stream.name, seq: seq, device: stream.device, timeNanoseconds: timeNs, cycle: cycle,
            batch: stream.context.batchId, phase: stream.context.phase, spec: stream.context.specFingerprint,
            parameters: designParameterList, readings: packedReadings(values, quality)))
    }
}

let designParameterList = designParameters.joined(separator: ",")

/// `SampleCodec`'s encoding for numbers and none, without building `Reading`s.
func packedReadings(_ values: ArraySlice<Double>, _ quality: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(values.count * 9)
    for (v, q) in zip(values, quality) {
        if v.isNaN {
            out.append(q << 4)
        } else {
            out.append(q << 4 | 1)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
    }
    return out
}

/// Samples of one device, one a second from `startNs`, as its site would store them.
struct SampleGenerator {
    let shape: DataShape
    let startNs: Int64
    private var rng: SplitMix64
    private var hasher = RecordChain.Hasher()

    init(shape: DataShape, startNs: Int64, seed: UInt64) {
        self.shape = shape
        self.startNs = startNs
        rng = SplitMix64(seed: seed)
    }

    /// Samples `seqs` of `stream`, continuing the chain from `previous`.
    mutating func columns(_ stream: DesignStream, seqs: ClosedRange<Int64>, previous: [UInt8]) -> SampleColumns {
        let columns = SampleColumns(stream: stream, seqFirst: seqs.lowerBound, previousOfFirst: previous)
        columns.timeNs.reserveCapacity(seqs.count)
        columns.hashes.reserveCapacity(seqs.count * 32)
        var values = [Double](repeating: 0, count: designParameters.count)
        var quality = [UInt8](repeating: 0, count: designParameters.count)
        for seq in seqs {
            // Polled on a one-second beat; the wall clock read after the poll, as a Date (about 0.2 µs apart).
            let jitter = Double(rng.next() % 3_000_000)
            let time = Int64((Double(startNs) + Double(seq - 1) * 1e9 + jitter).rounded())
            fill(&values, &quality, seq: seq)
            columns.append(timeNs: time, cycle: seq, values: values, quality: quality, hasher: &hasher)
        }
        return columns
    }

    private mutating func fill(_ v: inout [Double], _ q: inout [UInt8], seq: Int64) {
        let s = Double(seq)
        for p in q.indices { q[p] = 0 }
        switch shape {
        case .sawtooth:
            for p in v.indices { v[p] = 37 + Double(p) + Double(seq % 100) / 1000 }
        case .plausible:
            v[0] = float32(37 + 0.3 * sin(s / 600) + 0.02 * unit(), places: 2)
            v[1] = float32(7.2 + 0.05 * sin(s / 900) + 0.005 * unit(), places: 3)
            v[2] = float32(60 + 10 * sin(s / 1200) + 0.3 * unit(), places: 1)
            v[3] = float32(5 + 0.1 * unit(), places: 2)
            v[4] = unit() < 0.02 ? 121 : 120
            v[5] = 20
            v[6] = scaled(1500 + s / 86.4 + 2 * unit(), places: 3)
            v[7] = s / 3600
            if rng.next() % 1000 == 0 {
                v[2] = .nan
                q[2] = 1
            }
        case .noise:
            for p in 0..<7 { v[p] = Double(shortestFloat32: Float(37 + Double(p) + 0.5 * (unit() - 0.5))) }
            v[7] = s / 3600
        }
    }

    /// A float32 register's value: the sensor's reading at its resolution, as the site keeps it.
    private func float32(_ x: Double, places: Int) -> Double {
        let power = pow(10.0, Double(places))
        return Double(shortestFloat32: Float((x * power).rounded() / power))
    }

    /// An integer register scaled by 10^-places, as the site's decoder keeps it.
    private func scaled(_ raw: Double, places: Int) -> Double {
        let power = pow(10.0, Double(places))
        return (raw.rounded() * (1 / power) * power).rounded() / power
    }

    private mutating func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
}

/// A small deterministic generator, so every run loads the same values.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

func bytes(hexText: some StringProtocol) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(hexText.utf8.count / 2)
    var high: UInt8?
    for c in hexText.utf8 {
        let nibble: UInt8 = switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: 0
        }
        if let h = high {
            out.append(h << 4 | nibble)
            high = nil
        } else {
            high = nibble
        }
    }
    return out
}

/// The genesis previous hash (64 zeros) as bytes.
let genesisHash = [UInt8](repeating: 0, count: 32)
