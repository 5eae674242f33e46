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
