// send/sendmsg of every byte: partial sends continue with the rest. The
// vectors (and, for several buffers, the msghdr) are owned here until the
// last CQE. MSG_NOSIGNAL turns a vanished peer into EPIPE instead of killing
// the process with SIGPIPE.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

final class SendRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    private var vectors: IOVectors
    /// Allocated on the first vectored submission: a single-buffer send
    /// never needs it.
    private var message: UnsafeMutablePointer<msghdr>?

    init(fd: Int32, vectors: consuming IOVectors, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.vectors = vectors
        super.init(operation: "send", deadline: deadline)
    }

    deinit { message?.deallocate() }

    override func makeEntry() -> SubmissionEntry {
        if vectors.remainingCount == 1 {
            let vector = vectors.head
            return .send(fd: fd, from: vector.iov_base!, count: UInt32(min(vector.iov_len, IOBuffer.maximumTransfer)),
                         flags: Int32(MSG_NOSIGNAL))
        }
        let message = self.message ?? {
            let message = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)
            message.initialize(to: msghdr())
            self.message = message
            return message
        }()
        message.pointee.msg_iov = vectors.remaining
        message.pointee.msg_iovlen = min(vectors.remainingCount, 1024)
        return .sendmsg(fd: fd, message: message, flags: Int32(MSG_NOSIGNAL))
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        transferStep(vectors.account(result, operation: operation, fd: fd, stalled: EPIPE))
    }
}
