// connect through the ring; the address is copied and owned here until the CQE.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

final class ConnectRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    let peer: SocketAddress
    private let address: UnsafeMutablePointer<sockaddr_storage>

    init(fd: Int32, peer: SocketAddress, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.peer = peer
        address = .allocate(capacity: 1)
        address.initialize(to: peer.storage)
        super.init(operation: "connect", deadline: deadline)
    }

    deinit { address.deallocate() }

    override func makeEntry() -> SubmissionEntry {
        UnsafeMutableRawPointer(address).withMemoryRebound(to: sockaddr.self, capacity: 1) {
            .connect(fd: fd, address: $0, length: peer.length)
        }
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result, context: "\(peer)")) } else { succeed(()) }
        return .finished
    }
}
