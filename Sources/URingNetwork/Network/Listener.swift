// A listening socket (TCP, or a Unix domain socket) whose accepts run on
// the ring.
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

    /// The socket file of a Unix domain listener, removed when it closes.
    private let socketFile: SocketFile?

    /// The accepts armed ahead of the callers, and what they accepted.
    let queue: AcceptQueue

    init(fd: Int32, network: Network, localAddress: SocketAddress, socketFile: SocketFile? = nil) {
        self.fd = fd
        self.network = network
        self.localAddress = localAddress
        self.socketFile = socketFile
        queue = AcceptQueue(fd: fd, loop: network.receiveLoop, depth: network.configuration.acceptDepth,
                            closedError: Listener.closedError(at: localAddress))
    }

    deinit {
        if !isClosed {
            // Accepts still armed keep the socket listening in the kernel:
            // shut it down so they end, and close what was accepted ahead.
            queue.close()
            _ = shutdown(fd, Int32(SHUT_RDWR))
            socketFile?.remove()
        }
        // Closed by the queue once its last armed accept has ended.
        queue.releaseDescriptor()
    }

    /// Waits for the next connection (no timeout unless `deadline`).
    ///
    /// - Throws: `IOError` `.invalidArgument` once the listener is closed
    ///   (a pending accept too), `.timedOut`, or the kernel's errno.
    public func accept(deadline: ContinuousClock.Instant? = nil) async throws -> (peer: SocketAddress, sink: Sink, stream: Stream) {
        guard !isClosed else { throw closedError }
        let accepted: AcceptedSocket
        do {
            accepted = try await queue.next(deadline: deadline)
        } catch {
            throw isClosed ? closedError : error
        }
        do {
            try SocketOptions.configure(accepted.fd, family: localAddress.family, network.configuration)
        } catch {
            Glibc.close(accepted.fd)
            throw error
        }
        let (sink, stream) = network.connection(fd: accepted.fd, peer: accepted.peer)
        return (accepted.peer, sink, stream)
    }

    /// Stops listening: a pending `accept` fails, later ones too. A Unix
    /// domain listener's socket file is removed (unless another server's
    /// socket has replaced it), so the path is free for the next server
    /// and a client dialing it is told `ENOENT`.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.close()
        _ = shutdown(fd, Int32(SHUT_RDWR))
        socketFile?.remove()
    }

    private var closedError: IOError { Listener.closedError(at: localAddress) }

    private static func closedError(at address: SocketAddress) -> IOError {
        IOError("accept", .invalidArgument("the listener is closed"), context: "\(address)")
    }
}
