// The sending half of a connection.
//
// Invariant: a send either delivers every byte to the kernel or fails; after
// a failure an unknown prefix may have been sent, so the sink refuses all
// further sends (the peer could not parse what follows). One send at a time:
// a concurrent second send is refused, not interleaved.
import Synchronization
import URing
import URingLoop

/// Sends bytes on a connection. Sendable; use from one task at a time.
public final class Sink: Sendable {
    let socket: Socket
    private static let idle: UInt8 = 0, busy: UInt8 = 1, failed: UInt8 = 2
    private let state = Atomic<UInt8>(Sink.idle)

    init(socket: Socket) {
        self.socket = socket
    }

    /// The peer's address.
    public var peer: SocketAddress { socket.peer }

    /// The executor of the loop this connection sends on: a task preferring
    /// it sends without crossing threads.
    public var executor: LoopExecutor { socket.sendLoop.executor }

    /// Sends every byte of `bytes` (within the read/write timeout).
    @inlinable @inline(__always)
    public func send(_ bytes: [UInt8]) async throws {
        try await send(IOBuffer(bytes: bytes))
    }

    /// Sends every byte of `buffer`.
    ///
    /// - Throws: `IOError` (`.timedOut`, `.errno(EPIPE)`...). After any
    ///   failure the sink is unusable: later sends throw at once.
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.send`)
    public func send(_ buffer: IOBuffer) async throws {
        try await exclusively { try await $0.send(buffer, to: $1, deadline: $2) }
    }

    /// Sends every byte of `buffers`, back to back (vectored).
    ///
    /// - Throws: as `send(_: IOBuffer)`.
    @inlinable @inline(__always)
    public func send(_ buffers: [IOBuffer]) async throws {
        try await exclusively { try await $0.send(buffers, to: $1, deadline: $2) }
    }

    /// Runs one send (on the sending loop, to this socket, by this
    /// deadline) while holding the sink. Inlined with its closure, so it
    /// adds no async frame either.
    @inlinable @inline(__always)
    func exclusively(_ send: (Handle, Int32, ContinuousClock.Instant?) async throws -> Void) async throws {
        let (loop, fd, deadline) = try acquire()
        do {
            try await send(loop, fd, deadline)
        } catch {
            throw failed(error)
        }
        release()
    }

    // MARK: - One send at a time (opaque steps around the inlined send)

    /// Takes the sink for one send, or refuses: another send is running, or
    /// an earlier one failed. Returns where and until when to send.
    @usableFromInline
    func acquire() throws(IOError) -> (Handle, Int32, ContinuousClock.Instant?) {
        let (exchanged, current) = state.compareExchange(expected: Sink.idle, desired: Sink.busy, ordering: .acquiring)
        guard exchanged else {
            throw IOError("send", .invalidArgument(current == Sink.failed
                ? "an earlier send failed part-way; the connection must not be reused"
                : "another send is in progress on this sink"), context: "\(socket.peer)")
        }
        return (socket.sendLoop, socket.fd, socket.deadline)
    }

    /// Ends a successful send.
    @usableFromInline
    func release() {
        state.store(Sink.idle, ordering: .releasing)
    }

    /// Ends a failed send: the sink refuses all later ones, and an IOError
    /// gets the peer's address as context.
    @usableFromInline
    func failed(_ error: any Error) -> any Error {
        state.store(Sink.failed, ordering: .releasing)
        return IOError.labelling(error, with: "\(socket.peer)")
    }

    /// Ends the connection in both directions (a pending receive on its
    /// stream ends with `.endOfFile`).
    public func close() {
        socket.shutdown()
    }
}
