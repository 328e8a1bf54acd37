/// The plain run of a JSON string, found eight bytes at a time: most of a telemetry message is
/// string bytes (hashes, times, keys) that need nothing but to be passed, and every message is
/// read several times over (the strict check, the envelope, each sample, its values). COPY text
/// rows are written the same way, between the bytes that need escaping.
public enum JSONStringRun {
    /// The first index at or after `start` holding a quote, a backslash or a control character
    /// (below 0x20); `bytes.count` when there is none.
    @inlinable @inline(__always)
    public static func end(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        first(in: bytes, from: start, quote: true)
    }

    /// The first index at or after `start` holding a backslash or a control character.
    @inlinable @inline(__always)
    public static func endWithoutQuotes(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        first(in: bytes, from: start, quote: false)
    }

    @inlinable @inline(__always)
    static func first(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, quote: Bool) -> Int {
        var i = start
        let count = bytes.count
        if let base = bytes.baseAddress {
            while i + 8 <= count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                // A flag in the high bit of each byte that matches; the lowest flag is exact (a
                // borrow only carries upwards, from a byte that matched).
                var special = zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C) | ((word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080)
                if quote { special |= zeroBytes(word ^ 0x2222_2222_2222_2222) }
                if special != 0 { return i + special.trailingZeroBitCount >> 3 }
                i += 8
            }
        }
        while i < count {
            let byte = bytes[i]
            if (quote && byte == 0x22) || byte == 0x5C || byte < 0x20 { return i }
            i += 1
        }
        return count
    }

    /// The high bit set in each byte of `word` that is zero.
    @inlinable @inline(__always)
    static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
    }
}
