// fsync or fdatasync through the ring.
import URing

final class SyncRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    let dataOnly: Bool

    init(fd: Int32, dataOnly: Bool, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.dataOnly = dataOnly
        super.init(operation: dataOnly ? "fdatasync" : "fsync", deadline: deadline, cancellable: false)
    }

    override func makeEntry() -> SubmissionEntry { .fsync(fd: fd, dataOnly: dataOnly) }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result, context: "fd \(fd)")) } else { succeed(()) }
        return .finished
    }
}
