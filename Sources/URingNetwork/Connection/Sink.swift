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
    public func send(_ bytes: [UInt8]) async throws {
        try await send(IOBuffer(bytes: bytes))
    }

    /// Sends every byte of `buffer`.
    ///
    /// - Throws: `IOError` (`.timedOut`, `.errno(EPIPE)`...). After any
    ///   failure the sink is unusable: later sends throw at once.
    @inline(__always)  // no extra async frame for `send(_: [UInt8])`
    public func send(_ buffer: IOBuffer) async throws {
        try await exclusively { try await socket.sendLoop.send(buffer, to: socket.fd, deadline: socket.deadline) }
    }

    /// Sends every byte of `buffers`, back to back (vectored).
    ///
    /// - Throws: as `send(_: IOBuffer)`.
    @inline(__always)
    public func send(_ buffers: [IOBuffer]) async throws {
        try await exclusively { try await socket.sendLoop.send(buffers, to: socket.fd, deadline: socket.deadline) }
    }

    /// Runs one send while holding the sink: refuses a concurrent send and
    /// every send after a failed one, and names the peer in errors.
    @inline(__always)
    private func exclusively(_ send: () async throws -> Void) async throws {
        let (exchanged, current) = state.compareExchange(expected: Sink.idle, desired: Sink.busy, ordering: .acquiring)
        guard exchanged else {
            throw IOError("send", .invalidArgument(current == Sink.failed
                ? "an earlier send failed part-way; the connection must not be reused"
                : "another send is in progress on this sink"), context: "\(socket.peer)")
        }
        do {
            try await send()
            state.store(Sink.idle, ordering: .releasing)
        } catch var error as IOError {
            state.store(Sink.failed, ordering: .releasing)
            error.context = error.context.map { "\(socket.peer): \($0)" } ?? "\(socket.peer)"
            throw error
        } catch {
            state.store(Sink.failed, ordering: .releasing)
            throw error
        }
    }

    /// Ends the connection in both directions (a pending receive on its
    /// stream ends with `.endOfFile`).
    public func close() {
        socket.shutdown()
    }
}
