// sendmsg of one datagram: to the address given, or to a connected socket's
// peer. A datagram leaves whole or not at all, so there is no partial send
// to continue; one longer than the protocol allows is the kernel's EMSGSIZE.
//
// Why MSG_DONTWAIT and a poll of our own: a Unix domain datagram socket
// whose receiver's queue is full copies the datagram in before it finds no
// room and answers EAGAIN, and when io_uring then waits and retries by
// itself, the retry finds the message already consumed and sends an empty
// datagram in its place (seen on Linux 6.18; the CQE says 0 bytes). So the
// kernel may not retry: EAGAIN comes back here, the request waits in the
// ring for POLLOUT, then submits the whole sendmsg again from its own
// header.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

final class DatagramSendRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    /// Kept alive while the kernel reads from it.
    private let buffer: IOBuffer
    private let destination: SocketAddress?
    private var header: DatagramHeader
    /// Set by an EAGAIN: the next SQE polls for room instead of sending.
    private var waitingForRoom = false

    init(fd: Int32, buffer: IOBuffer, to destination: SocketAddress?, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.buffer = buffer
        self.destination = destination
        header = DatagramHeader(base: buffer.base, count: buffer.count, address: destination, forReceive: false)
        super.init(operation: "sendmsg", deadline: deadline)
    }

    override var stepName: String { waitingForRoom ? "poll" : operation }

    override func makeEntry() -> SubmissionEntry {
        if waitingForRoom { return .pollAdd(fd: fd, events: UInt32(POLLOUT)) }
        return .sendmsg(fd: fd, message: header.message(resettingForReceive: false),
                        flags: Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
    }

    override func retryStep(after result: Int32) -> CompletionStep {
        if result == -EAGAIN { waitingForRoom = true }
        return .again
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if waitingForRoom {
            // Room, or an error or hang-up that the next send reports.
            waitingForRoom = false
            if result < 0 {
                fail(IOError("poll", errno: result, context: context))
                return .finished
            }
            return .again
        }
        if result < 0 {
            fail(IOError(operation, errno: result, context: context))
        } else if Int(result) != buffer.count {
            fail(IOError(operation, .errno(EMSGSIZE), context: "\(context): the kernel took \(result) bytes of it"))
        } else {
            succeed(())
        }
        return .finished
    }

    private var context: String { DatagramSendRequest.context(fd: fd, count: buffer.count, to: destination) }

    /// What a send's errors name: the socket, the size and the destination.
    static func context(fd: Int32, count: Int, to destination: SocketAddress?) -> String {
        "fd \(fd): a datagram of \(count) bytes" + (destination.map { " to \($0)" } ?? "")
    }
}
