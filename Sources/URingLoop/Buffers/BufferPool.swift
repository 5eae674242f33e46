// Reuses IOBuffers of one size so steady-state I/O allocates nothing.

/// A thread-safe pool of equally sized `IOBuffer`s.
public final class BufferPool: Sendable {
    /// The capacity of every buffer the pool hands out.
    public let bufferSize: Int
    /// The alignment of every buffer.
    public let alignment: Int
    /// How many idle buffers the pool keeps at most.
    public let maximumIdle: Int
    private let idle: Locked<[IOBuffer]>

    public init(bufferSize: Int, alignment: Int = 16, maximumIdle: Int = 256) {
        self.bufferSize = bufferSize
        self.alignment = alignment
        self.maximumIdle = maximumIdle
        idle = Locked([])
    }

    /// An empty buffer of `bufferSize` bytes, reused when one is idle.
    public func take() -> IOBuffer {
        if let buffer = idle.withLock({ $0.popLast() }) {
            buffer.count = 0
            return buffer
        }
        return IOBuffer(capacity: bufferSize, alignment: alignment)
    }

    /// Returns `buffer` for reuse. Buffers of another size or alignment, and
    /// any beyond `maximumIdle`, are simply released.
    public func recycle(_ buffer: IOBuffer) {
        guard buffer.capacity == bufferSize, buffer.alignment == alignment else { return }
        idle.withLock { buffers in
            if buffers.count < maximumIdle { buffers.append(buffer) }
        }
    }

    /// Idle buffers right now.
    public var idleCount: Int { idle.withLock { $0.count } }
}
