// A tiny xorshift generator: random aligned offsets without locks or
// Foundation, seeded per task so every engine sees the same sequence.

struct RandomOffsets {
    private var state: UInt64
    let blocks: UInt64
    let blockSize: UInt64

    init(seed: Int, fileSize: UInt64, blockSize: UInt64) {
        state = 0x9E37_79B9_7F4A_7C15 &* UInt64(seed + 1)
        self.blockSize = blockSize
        blocks = fileSize / blockSize
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return (state % blocks) * blockSize
    }
}
