// close through the ring.
import URing

final class CloseRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32

    init(fd: Int32, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        super.init(operation: "close", deadline: deadline, cancellable: false)
    }

    override func makeEntry() -> SubmissionEntry { .close(fd: fd) }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result, context: "fd \(fd)")) } else { succeed(()) }
        return .finished
    }
}
