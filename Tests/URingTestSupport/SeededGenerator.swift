// A random number generator that replays from its seed, for model tests
// that draw their operations at random: a failure names its seed, and the
// same seed draws the same operations again.

/// SplitMix64 (Steele, Lea and Flood): small, fast, and good enough to
/// choose operations and sizes.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededGenerator {
    /// `count` random bytes, eight from each draw. (Drawn one at a time
    /// through `UInt8.random`, the megabytes the model tests write took
    /// seconds of a pool thread in debug builds, holding up other tests.)
    /// With `nonZero`, a zero byte becomes 1, so written bytes stand apart
    /// from a hole's zeros.
    public mutating func bytes(_ count: Int, nonZero: Bool = false) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            while offset + 8 <= count {
                raw.storeBytes(of: next(), toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            var tail = next()
            while offset < count {
                raw[offset] = UInt8(truncatingIfNeeded: tail)
                tail >>= 8
                offset += 1
            }
            if nonZero {
                for index in 0..<count where buffer[index] == 0 { buffer[index] = 1 }
            }
            initialized = count
        }
    }
}
