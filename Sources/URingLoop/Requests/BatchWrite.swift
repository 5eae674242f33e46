// One write of a batch (`Handle.write(batch:)`): where to write, and what.

/// Writes every byte of `buffers`, back to back, at `offset` of `fd`, as one
/// element of a batch submitted together.
public struct BatchWrite: Sendable {
    public var fd: Int32
    public var offset: UInt64
    public var buffers: [IOBuffer]

    public init(_ buffers: [IOBuffer], to fd: Int32, at offset: UInt64) {
        self.fd = fd
        self.offset = offset
        self.buffers = buffers
    }

    public init(_ buffer: IOBuffer, to fd: Int32, at offset: UInt64) {
        self.init([buffer], to: fd, at: offset)
    }
}
