// One read of a batch (`Handle.read(batch:)`): where to read, and into what.

/// Reads `count` bytes (nil: the buffer's capacity) at `offset` of `fd`
/// into `buffer`, as one element of a batch submitted together.
public struct BatchRead: Sendable {
    public var fd: Int32
    public var offset: UInt64
    public var buffer: IOBuffer
    public var count: Int?

    public init(from fd: Int32, at offset: UInt64, into buffer: IOBuffer, count: Int? = nil) {
        self.fd = fd
        self.offset = offset
        self.buffer = buffer
        self.count = count
    }
}
