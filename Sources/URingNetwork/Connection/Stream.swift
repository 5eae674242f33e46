// The receiving half of a connection, with a buffer so that many small
// exact reads cost one large receive, and large reads bypass the buffer.
//
// The buffer is allocated by the first receive that needs it, so a
// connection served only by `receive(into:)` (a proxy, an echo server) holds
// none: 64 KiB less per connection by default.
//
// Invariant (why `@unchecked Sendable` is sound): `storage`, `start` and
// `isBroken` are touched only by the one call that holds `busy` (acquired
// with acquire ordering, released with release ordering), so calls from
// different tasks are ordered; a concurrent second call is refused, not
// raced.
import Synchronization
import URing
import URingLoop

/// Receives bytes from a connection. Sendable; use from one task at a time.
public final class Stream: @unchecked Sendable {
    let socket: Socket
    private let busy = Atomic<Bool>(false)
    /// Received, unread bytes are `start..<buffer.count`; nil until a
    /// receive first needs the buffer.
    private var storage: IOBuffer?
    private var start = 0
    /// Set when a failed large receive lost part of a message.
    private var isBroken = false

    init(socket: Socket) {
        self.socket = socket
    }

    /// The peer's address.
    public var peer: SocketAddress { socket.peer }

    /// This end's address: the interface and port the connection leaves
    /// from (a dialed one's port is the kernel's pick), or its socket file
    /// (`unix:(unnamed)` for a client that bound none).
    ///
    /// - Throws: `IOError` from `getsockname`, which does not fail for a
    ///   connection this network made.
    public var localAddress: SocketAddress {
        get throws(IOError) { try socket.localAddress }
    }

    /// The executor of the loop this connection receives on: a task
    /// preferring it receives without crossing threads.
    public var executor: LoopExecutor { socket.receiveLoop.executor }

    /// Unread bytes already received.
    private var buffered: Int { (storage?.count ?? 0) - start }

    /// How many bytes the buffer holds: larger messages bypass it.
    private var bufferCapacity: Int { max(socket.configuration.receiveBufferSize, 1) }

    /// The buffer, allocated on first use (caller holds `busy`).
    private var buffer: IOBuffer {
        if let storage { return storage }
        let allocated = IOBuffer(capacity: bufferCapacity)
        storage = allocated
        return allocated
    }

    /// Whether the stream has allocated its buffer (this package's tests).
    package var hasBuffer: Bool { storage != nil }

    /// Returns exactly `count` bytes, by `deadline` (nil: within the
    /// read/write timeout; a deadline of its own may be later or earlier).
    ///
    /// A failed receive of up to the buffer's size loses nothing: bytes that
    /// arrived stay buffered for the next call. A larger one bypasses the
    /// buffer, so after it fails part of a message is gone: the stream then
    /// refuses further receives (like a sink after a failed send).
    ///
    /// - Throws: `IOError` `.endOfFile` if the peer closes first (a truncated
    ///   message), `.timedOut`, or the kernel's errno.
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.receive`)
    public func receive(exactly count: Int, deadline: ContinuousClock.Instant? = nil) async throws -> [UInt8] {
        var plan = try beginReceive(exactly: count, deadline: deadline)
        while true {
            switch plan {
            case .ready(let bytes):
                return bytes
            case .receive(let loop, let fd, let buffer, let deadline, let readyFirst):
                let before = buffer.count
                do {
                    _ = try await loop.receive(from: fd, into: buffer, startingAt: before, deadline: deadline,
                                               readyFirst: readyFirst)
                } catch {
                    throw endReceive(failing: error)
                }
                plan = try continueReceive(exactly: count, receivedFrom: before, deadline: deadline)
            case .large(let deadline):
                return try await receiveLarge(count, deadline: deadline)
            }
        }
    }

    /// Returns between 1 and `maxLength` bytes as soon as any are available,
    /// or an empty array once the peer has closed its side; by `deadline`
    /// (nil: within the read/write timeout).
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.receive`)
    public func receive(upTo maxLength: Int, deadline: ContinuousClock.Instant? = nil) async throws -> [UInt8] {
        switch try beginReceive(upTo: maxLength, deadline: deadline) {
        case .ready(let bytes):
            return bytes
        case .receive(let loop, let fd, let buffer, let deadline, let readyFirst):
            do {
                _ = try await loop.receive(from: fd, into: buffer, deadline: deadline, readyFirst: readyFirst)
            } catch {
                throw endReceive(failing: error)
            }
            return endReceive(upTo: maxLength)
        case .large:
            preconditionFailure("receive(upTo:) never plans a large receive")
        }
    }

    /// Receives between 1 and `buffer.capacity` bytes into `buffer` as soon
    /// as any are available, replacing its contents (`buffer.count` is the
    /// number received), or returns 0 once the peer has closed its side; by
    /// `deadline` (nil: within the read/write timeout).
    ///
    /// Bytes the stream already holds (left over from `receive(exactly:)`)
    /// are copied out first, with no receive. Otherwise the kernel writes
    /// straight into `buffer`, so a proxy or an echo server can pass what
    /// arrived to `Sink.send(_: IOBuffer)` with no copy and no allocation per
    /// message. Nobody else may use `buffer` until this returns.
    ///
    /// - Throws: `IOError` `.invalidArgument` for a buffer of capacity 0,
    ///   `.timedOut`, or the kernel's errno. A failed receive consumed nothing.
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.receive`)
    public func receive(into buffer: IOBuffer, deadline: ContinuousClock.Instant? = nil) async throws -> Int {
        guard let (loop, fd, deadline, readyFirst) = try beginReceive(into: buffer, deadline: deadline) else {
            return buffer.count
        }
        do {
            _ = try await loop.receive(from: fd, into: buffer, deadline: deadline, readyFirst: readyFirst)
        } catch {
            throw endReceive(failing: error)
        }
        return endReceive(into: buffer)
    }

    // MARK: - Receive steps (opaque, around the inlined receives)
    //
    // A receive takes `busy` in its first step and every path out of the
    // last one releases it: `.ready` answers (released), a failed receive
    // (`endReceive(failing:)`), an error thrown by a step (released before
    // throwing), or `receiveLarge` (releases when done).

    /// What a receive does next, holding the stream.
    @usableFromInline
    enum ReceivePlan {
        /// Buffered bytes answer the call; the stream is free again.
        case ready([UInt8])
        /// Receive into the buffer's free end (its `count` onwards), then
        /// take the next step; trying the socket first (`readyFirst`) or not.
        case receive(Handle, Int32, IOBuffer, ContinuousClock.Instant?, Bool)
        /// More than the buffer holds: `receiveLarge`.
        case large(ContinuousClock.Instant?)
    }

    /// Takes the stream for one `receive(exactly:)` (or refuses).
    @usableFromInline
    func beginReceive(exactly count: Int, deadline: ContinuousClock.Instant?) throws(IOError) -> ReceivePlan {
        guard count >= 0 else { throw IOError("recv", .invalidArgument("negative byte count \(count)")) }
        try acquire()
        let deadline = deadline ?? socket.deadline
        if count > bufferCapacity { return .large(deadline) }
        return nextStep(exactly: count, deadline: deadline)
    }

    /// After a receive for `receive(exactly:)`: done, another receive, or
    /// `.endOfFile` if the peer closed before the message was complete.
    @usableFromInline
    func continueReceive(exactly count: Int, receivedFrom before: Int, deadline: ContinuousClock.Instant?) throws -> ReceivePlan {
        if buffer.count == before {
            busy.store(false, ordering: .releasing)
            throw labelled(IOError("recv", .endOfFile, context: "peer closed with \(buffered) bytes of the message received"))
        }
        return nextStep(exactly: count, deadline: deadline)
    }

    private func nextStep(exactly count: Int, deadline: ContinuousClock.Instant?) -> ReceivePlan {
        if buffered >= count {
            defer { busy.store(false, ordering: .releasing) }
            return .ready(take(count))
        }
        // Unread bytes move to the front so the receive gets the most room.
        if start > 0 {
            let unread = buffered
            buffer.withUnsafeMutableBytes { bytes in
                bytes.baseAddress!.copyMemory(from: bytes.baseAddress! + start, byteCount: unread)
            }
            buffer.count = unread
            start = 0
        }
        return .receive(socket.receiveLoop, socket.fd, buffer, deadline, socket.readyFirstTurns.take(.receives))
    }

    /// A message larger than the buffer: what is buffered, then the rest
    /// straight into its own buffer. Holds the stream until it returns.
    @usableFromInline
    func receiveLarge(_ count: Int, deadline: ContinuousClock.Instant?) async throws -> [UInt8] {
        defer { busy.store(false, ordering: .releasing) }
        // Allocated before anything is taken from the stream, so a count
        // no memory can hold fails without losing buffered bytes.
        let missing = count - buffered
        let destination: IOBuffer
        do throws(IOError) {
            destination = try IOBuffer(capacity: missing, orThrowFor: "recv")
        } catch {
            throw labelled(error)
        }
        var result = take(buffered)
        result.reserveCapacity(count)
        do {
            let direct = try await socket.receiveLoop.receive(
                from: socket.fd, into: destination, count: missing, exact: true, deadline: deadline,
                readyFirst: socket.readyFirstTurns.take(.receives))
            return result + direct.bytes
        } catch {
            isBroken = true
            throw labelled(error)
        }
    }

    /// Takes the stream for one `receive(upTo:)` (or refuses), and answers
    /// from the buffer when it holds anything.
    @usableFromInline
    func beginReceive(upTo maxLength: Int, deadline: ContinuousClock.Instant?) throws(IOError) -> ReceivePlan {
        guard maxLength > 0 else { throw IOError("recv", .invalidArgument("maxLength must be positive, got \(maxLength)")) }
        try acquire()
        if buffered > 0 {
            defer { busy.store(false, ordering: .releasing) }
            return .ready(take(min(maxLength, buffered)))
        }
        // Nothing unread: the whole buffer is free for this receive.
        start = 0
        buffer.count = 0
        return .receive(socket.receiveLoop, socket.fd, buffer, deadline ?? socket.deadline,
                        socket.readyFirstTurns.take(.receives))
    }

    /// Ends a `receive(upTo:)` whose receive completed: nothing received
    /// means the peer closed.
    @usableFromInline
    func endReceive(upTo maxLength: Int) -> [UInt8] {
        defer { busy.store(false, ordering: .releasing) }
        return take(min(maxLength, buffered))
    }

    /// Takes the stream for one `receive(into:)` (or refuses). Buffered
    /// bytes answer at once (nil: the stream is free again); otherwise
    /// where and until when to receive into the caller's buffer.
    @usableFromInline
    func beginReceive(into target: IOBuffer, deadline: ContinuousClock.Instant?) throws(IOError)
        -> (Handle, Int32, ContinuousClock.Instant?, readyFirst: Bool)? {
        guard target.capacity > 0 else { throw IOError("recv", .invalidArgument("the buffer has no capacity")) }
        try acquire()
        target.count = 0
        if buffered > 0 {
            defer { busy.store(false, ordering: .releasing) }
            let count = min(target.capacity, buffered)
            buffer.withUnsafeBytes { source in
                target.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: count) }
            }
            target.count = count
            consume(count)
            return nil
        }
        return (socket.receiveLoop, socket.fd, deadline ?? socket.deadline, socket.readyFirstTurns.take(.receives))
    }

    /// Ends a `receive(into:)` whose receive completed: how many bytes
    /// arrived (0: the peer closed).
    @usableFromInline
    func endReceive(into target: IOBuffer) -> Int {
        busy.store(false, ordering: .releasing)
        return target.count
    }

    /// Ends a receive whose kernel receive failed: frees the stream and names
    /// the peer in an IOError. Nothing is lost: what arrived stays buffered.
    @usableFromInline
    func endReceive(failing error: any Error) -> any Error {
        busy.store(false, ordering: .releasing)
        return labelled(error)
    }

    /// Up to `maxLength` bytes already received, without consuming them and
    /// without waiting.
    public func peek(maxLength: Int) throws -> [UInt8] {
        guard maxLength >= 0 else { throw IOError("peek", .invalidArgument("negative maxLength \(maxLength)")) }
        try socket.refuseIfClosed("peek")
        guard !busy.exchange(true, ordering: .acquiring) else {
            throw IOError("peek", .invalidArgument("a receive is in progress on this stream"))
        }
        defer { busy.store(false, ordering: .releasing) }
        guard buffered > 0 else { return [] }
        return buffer.withUnsafeBytes { Array($0[start..<(start + min(maxLength, buffered))]) }
    }

    /// Ends the connection in both directions; a pending receive ends with
    /// `.endOfFile`, later calls on the stream or its sink are refused
    /// ("the connection is closed").
    public func close() {
        socket.shutdown()
    }

    // MARK: - Internals (caller holds `busy`)

    /// Takes `busy`, refusing a closed connection, a concurrent receive and
    /// a broken stream.
    private func acquire() throws(IOError) {
        try socket.refuseIfClosed("recv")
        guard !busy.exchange(true, ordering: .acquiring) else {
            throw IOError("recv", .invalidArgument("another receive is in progress on this stream"))
        }
        guard !isBroken else {
            busy.store(false, ordering: .releasing)
            throw IOError("recv", .invalidArgument("an earlier large receive failed part-way; the connection must not be reused"),
                          context: "\(socket.peer)")
        }
    }

    /// An IOError with the peer's address as context.
    private func labelled(_ error: any Error) -> any Error {
        IOError.labelling(error, with: "\(socket.peer)")
    }

    private func take(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        let bytes = buffer.withUnsafeBytes { Array($0[start..<(start + count)]) }
        consume(count)
        return bytes
    }

    /// Drops `count` unread bytes; an emptied buffer starts over at 0.
    private func consume(_ count: Int) {
        start += count
        if start == buffer.count {
            start = 0
            buffer.count = 0
        }
    }
}
