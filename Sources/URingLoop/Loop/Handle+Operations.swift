// The I/O operations a Handle offers. Arguments a caller can get wrong are
// checked here and thrown as `.invalidArgument`, before anything is queued.
import URing

extension Handle {
    /// A no-op round trip through the ring.
    public func nop(deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(NopRequest(deadline: deadline))
    }

    // MARK: Files
    //
    // `cancellable` (reads and writes): whether cancelling the calling task
    // cancels the request in flight, as it must for pipes, FIFOs and
    // character devices that may never answer. Pass `false` for regular
    // files and block devices: the kernel finishes those promptly and could
    // not interrupt them anyway, and skipping the task-cancellation hook
    // saves the Swift runtime's global status-record lock on every request.
    // Either way, a task cancelled before the call gets `CancellationError`.

    /// Reads exactly `count` bytes at `offset` (`nil`: the current position,
    /// for pipes) into `buffer`, continuing after short reads.
    ///
    /// - Returns: `buffer`, with `count` set.
    /// - Throws: `IOError` `.endOfFile` if the file ends first; `.errno` for
    ///   kernel errors; `.invalidArgument` if `count` exceeds the capacity.
    @inline(__always)  // the [UInt8] overload adds no async frame
    public func read(
        from fd: Int32, at offset: UInt64?, into buffer: IOBuffer, count: Int? = nil,
        rwFlags: Int32 = 0, deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true
    ) async throws -> IOBuffer {
        let count = count ?? buffer.capacity
        try Handle.check(count: count, capacity: buffer.capacity, offset: offset, operation: "read")
        if count == 0 {
            buffer.count = 0
            return buffer
        }
        return try await core.perform(
            ReadRequest(fd: fd, offset: offset, buffer: buffer, count: count, rwFlags: rwFlags, deadline: deadline,
                        cancellable: cancellable))
    }

    /// Reads exactly `count` bytes at `offset` and returns them.
    public func read(
        from fd: Int32, at offset: UInt64?, count: Int, deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true
    ) async throws -> [UInt8] {
        try Handle.check(count: count, capacity: count, offset: offset, operation: "read")
        return try await read(from: fd, at: offset, into: IOBuffer(capacity: count), count: count, deadline: deadline,
                              cancellable: cancellable).bytes
    }

    /// Writes every byte of `buffers` (vectored when more than one) at
    /// `offset` (`nil`: the current position), continuing after short writes.
    /// `rwFlags` takes `RWF_*` such as `RWF_DSYNC`.
    @inline(__always)  // the [UInt8] overload adds no async frame
    public func write(
        _ buffers: [IOBuffer], to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true
    ) async throws {
        let total = buffers.reduce(0) { $0 + $1.count }
        try Handle.check(count: total, capacity: total, offset: offset, operation: "write")
        guard total > 0 else { return }
        try await core.perform(WriteRequest(fd: fd, offset: offset, vectors: IOVectors(buffers), rwFlags: rwFlags,
                                            deadline: deadline, cancellable: cancellable))
    }

    /// Writes every byte of `buffer` at `offset` (`nil`: the current
    /// position), continuing after short writes.
    @inline(__always)  // the [UInt8] overload adds no async frame
    public func write(
        _ buffer: IOBuffer, to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true
    ) async throws {
        try Handle.check(count: buffer.count, capacity: buffer.count, offset: offset, operation: "write")
        guard buffer.count > 0 else { return }
        try await core.perform(WriteRequest(fd: fd, offset: offset, vectors: IOVectors(buffer), rwFlags: rwFlags,
                                            deadline: deadline, cancellable: cancellable))
    }

    /// Writes `bytes` at `offset`.
    public func write(
        _ bytes: [UInt8], to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true
    ) async throws {
        try await write(IOBuffer(bytes: bytes), to: fd, at: offset, rwFlags: rwFlags, deadline: deadline,
                        cancellable: cancellable)
    }

    /// `fsync` (or `fdatasync` when `dataOnly`).
    public func sync(_ fd: Int32, dataOnly: Bool = false, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(SyncRequest(fd: fd, dataOnly: dataOnly, deadline: deadline))
    }

    // MARK: Sockets

    /// Sends every byte of `buffers` (vectored when more than one). After a
    /// failure part of the data may have been sent: do not reuse the stream.
    @inline(__always)  // Sink's overloads add no async frame
    public func send(_ buffers: [IOBuffer], to fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws {
        guard buffers.contains(where: { $0.count > 0 }) else { return }
        try await core.perform(SendRequest(fd: fd, vectors: IOVectors(buffers), deadline: deadline))
    }

    /// Sends every byte of `buffer` (a plain send: no iovec, no msghdr).
    @inline(__always)  // the [UInt8] overload and Sink's add no async frame
    public func send(_ buffer: IOBuffer, to fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws {
        guard buffer.count > 0 else { return }
        try await core.perform(SendRequest(fd: fd, vectors: IOVectors(buffer), deadline: deadline))
    }

    /// Sends every byte of `bytes`.
    public func send(_ bytes: [UInt8], to fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws {
        try await send(IOBuffer(bytes: bytes), to: fd, deadline: deadline)
    }

    /// Receives into `buffer` at byte `start` (default 0): with `exact`,
    /// exactly `count` bytes (a peer that closes first throws `.endOfFile`);
    /// otherwise one receive of at most `count` bytes (default: the rest of
    /// the capacity), where no new bytes mean the peer closed its side.
    ///
    /// - Returns: `buffer`, with `count` = `start` + bytes received.
    @inline(__always)  // the [UInt8] overload adds no async frame
    public func receive(
        from fd: Int32, into buffer: IOBuffer, startingAt start: Int = 0, count: Int? = nil, exact: Bool = false,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> IOBuffer {
        guard start >= 0 && start <= buffer.capacity else {
            throw IOError("recv", .invalidArgument("start \(start) is outside a buffer of \(buffer.capacity)"))
        }
        let count = count ?? buffer.capacity - start
        try Handle.check(count: count, capacity: buffer.capacity - start, offset: nil, operation: "recv")
        if count == 0 {
            buffer.count = start
            return buffer
        }
        return try await core.perform(
            ReceiveRequest(fd: fd, buffer: buffer, start: start, count: count, exact: exact, deadline: deadline))
    }

    /// Receives up to (or, with `exact`, exactly) `count` bytes.
    public func receive(
        from fd: Int32, count: Int, exact: Bool = false, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [UInt8] {
        try Handle.check(count: count, capacity: count, offset: nil, operation: "recv")
        return try await receive(from: fd, into: IOBuffer(capacity: count), count: count, exact: exact, deadline: deadline).bytes
    }

    /// Accepts one connection on a listening socket.
    public func accept(on fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws -> AcceptedSocket {
        try await core.perform(AcceptRequest(fd: fd, deadline: deadline))
    }

    /// Connects a socket to `address`.
    public func connect(_ fd: Int32, to address: SocketAddress, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(ConnectRequest(fd: fd, peer: address, deadline: deadline))
    }

    /// Closes `fd` through the ring.
    public func close(_ fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(CloseRequest(fd: fd, deadline: deadline))
    }

    static func check(count: Int, capacity: Int, offset: UInt64?, operation: String) throws(IOError) {
        guard count >= 0 else { throw IOError(operation, .invalidArgument("negative byte count \(count)")) }
        guard count <= capacity else {
            throw IOError(operation, .invalidArgument("\(count) bytes do not fit in a buffer of \(capacity)"))
        }
        if let offset {
            let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
            guard !overflow, end <= UInt64(Int64.max) else {
                throw IOError(operation, .invalidArgument("offset \(offset) + \(count) bytes is past the largest file offset"))
            }
        }
    }
}
