// One connected socket, shared by its Sink and Stream and closed when both
// are gone. `shutdown` ends the connection at once, even under a pending
// receive (which then completes with end of stream).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

final class Socket: Sendable {
    let fd: Int32
    let peer: SocketAddress
    let sendLoop: Handle
    let receiveLoop: Handle
    let configuration: NetworkConfiguration

    init(fd: Int32, peer: SocketAddress, sendLoop: Handle, receiveLoop: Handle, configuration: NetworkConfiguration) {
        self.fd = fd
        self.peer = peer
        self.sendLoop = sendLoop
        self.receiveLoop = receiveLoop
        self.configuration = configuration
    }

    deinit { close(fd) }

    /// Both directions, now: pending and later operations see the end.
    func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// The sending direction only: the peer reads end of stream once it has
    /// everything sent before; receiving goes on.
    func shutdownSending() throws(IOError) {
        guard Glibc.shutdown(fd, Int32(SHUT_WR)) == 0 else {
            throw IOError("shutdown", errno: curing_errno(), context: "\(peer)")
        }
    }

    /// A deadline for one top-level operation.
    var deadline: ContinuousClock.Instant? {
        configuration.readWriteTimeout.map { .now + $0 }
    }
}
