// One connected socket, shared by its Sink and Stream and closed when both
// are gone. `shutdown` ends the connection at once, even under a pending
// receive (which then completes with end of stream), and marks it closed:
// later calls on either half are refused as such instead of reading like
// a peer that hung up.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import Synchronization
import URing
import URingLoop

final class Socket: Sendable {
    let fd: Int32
    let peer: SocketAddress
    let sendLoop: Handle
    let receiveLoop: Handle
    let configuration: NetworkConfiguration
    /// Which of the sends and receives try the socket first.
    let readyFirstTurns: ReadyFirstTurns
    /// Set (for good) by `shutdown`, the `close` of either half. Relaxed:
    /// it guards no memory, and a call racing `close` that misses it gets
    /// the kernel's answer for the shut-down socket instead.
    private let closed = Atomic<Bool>(false)

    init(fd: Int32, peer: SocketAddress, sendLoop: Handle, receiveLoop: Handle, configuration: NetworkConfiguration) {
        self.fd = fd
        self.peer = peer
        self.sendLoop = sendLoop
        self.receiveLoop = receiveLoop
        self.configuration = configuration
        readyFirstTurns = ReadyFirstTurns(configuration.readyFirst)
    }

    deinit { close(fd) }

    /// Both directions, now: pending operations see the end, later ones
    /// are refused (`refuseIfClosed`).
    func shutdown() {
        closed.store(true, ordering: .relaxed)
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Throws if this side closed the connection.
    func refuseIfClosed(_ operation: String) throws(IOError) {
        if closed.load(ordering: .relaxed) {
            throw IOError(operation, .invalidArgument("the connection is closed"), context: "\(peer)")
        }
    }

    /// The sending direction only: the peer reads end of stream once it has
    /// everything sent before; receiving goes on.
    func shutdownSending() throws(IOError) {
        guard Glibc.shutdown(fd, Int32(SHUT_WR)) == 0 else {
            throw IOError("shutdown", errno: curing_errno(), context: "\(peer)")
        }
    }

    /// This end's address, as the kernel reports it (`getsockname`).
    var localAddress: SocketAddress {
        get throws(IOError) { try SocketOptions.localAddress(of: fd) }
    }

    /// A deadline for one top-level operation.
    var deadline: ContinuousClock.Instant? {
        configuration.readWriteTimeout.map { .now + $0 }
    }
}
