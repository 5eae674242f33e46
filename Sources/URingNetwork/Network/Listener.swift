// A listening TCP socket whose accepts run on the ring.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import Synchronization
import URing
import URingLoop

/// Accepts connections. Closing it ends pending and future accepts.
public final class Listener: Sendable {
    let fd: Int32
    let network: Network
    /// The bound address (with the real port when bound to port 0).
    public let localAddress: SocketAddress
    /// Set by `close()`, so accepts it ended say so instead of the kernel's
    /// bare EINVAL.
    private let closed = Atomic<Bool>(false)

    /// Whether `close()` was called.
    var isClosed: Bool { closed.load(ordering: .acquiring) }

    init(fd: Int32, network: Network, localAddress: SocketAddress) {
        self.fd = fd
        self.network = network
        self.localAddress = localAddress
    }

    deinit { Glibc.close(fd) }

    /// Waits for the next connection (no timeout unless `deadline`).
    ///
    /// - Throws: `IOError` `.invalidArgument` once the listener is closed
    ///   (a pending accept too), `.timedOut`, or the kernel's errno.
    public func accept(deadline: ContinuousClock.Instant? = nil) async throws -> (peer: SocketAddress, sink: Sink, stream: Stream) {
        guard !isClosed else { throw closedError }
        let accepted: AcceptedSocket
        do {
            accepted = try await network.receiveLoop.accept(on: fd, deadline: deadline)
        } catch {
            throw isClosed ? closedError : error
        }
        do {
            try SocketOptions.configure(accepted.fd, network.configuration)
        } catch {
            Glibc.close(accepted.fd)
            throw error
        }
        let (sink, stream) = network.connection(fd: accepted.fd, peer: accepted.peer)
        return (accepted.peer, sink, stream)
    }

    /// Stops listening: a pending `accept` fails, later ones too.
    public func close() {
        closed.store(true, ordering: .releasing)
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    private var closedError: IOError {
        IOError("accept", .invalidArgument("the listener is closed"), context: "\(localAddress)")
    }
}
