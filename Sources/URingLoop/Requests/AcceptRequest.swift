// accept4 through the ring; the peer address storage is owned here until
// the CQE. Accepted sockets are close-on-exec.
import CURing
import URing

final class AcceptRequest: ValueRequest<AcceptedSocket>, @unchecked Sendable {
    let fd: Int32
    private let address: UnsafeMutablePointer<sockaddr_storage>
    private let length: UnsafeMutablePointer<socklen_t>

    init(fd: Int32, deadline: ContinuousClock.Instant?, armedAhead: Bool = false) {
        self.fd = fd
        address = .allocate(capacity: 1)
        address.initialize(to: sockaddr_storage())
        length = .allocate(capacity: 1)
        length.initialize(to: socklen_t(MemoryLayout<sockaddr_storage>.size))
        super.init(operation: "accept", deadline: deadline, armedAhead: armedAhead)
    }

    deinit {
        address.deallocate()
        length.deallocate()
    }

    override func makeEntry() -> SubmissionEntry {
        length.pointee = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return UnsafeMutableRawPointer(address).withMemoryRebound(to: sockaddr.self, capacity: 1) {
            .accept(fd: fd, address: $0, length: length, flags: CURING_SOCK_CLOEXEC)
        }
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 {
            fail(IOError(operation, errno: result, context: "listener fd \(fd)"))
        } else {
            succeed(AcceptedSocket(fd: result, peer: SocketAddress(storage: address.pointee, length: length.pointee)))
        }
        return .finished
    }

    /// A connection accepted after the caller was answered is nobody's.
    override func discardLateResult(_ result: Int32) {
        if result >= 0 { close(result) }
    }
}
