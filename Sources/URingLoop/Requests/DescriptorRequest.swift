// One operation on a descriptor whose completion carries only success or
// -errno: fsync and fdatasync, ftruncate, fallocate, close. The SQE names no
// memory the request must keep alive, so it is built with the request and
// one type serves them all.
import URing

final class DescriptorRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    private let entry: SubmissionEntry

    /// `operation` names the request in errors and fault plans ("fsync",
    /// "ftruncate", "close"...). None of these can be interrupted once the
    /// kernel has them, so they are not cancellable in flight.
    init(_ operation: String, fd: Int32, entry: SubmissionEntry, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.entry = entry
        super.init(operation: operation, deadline: deadline, cancellable: false)
    }

    override func makeEntry() -> SubmissionEntry { entry }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result, context: "fd \(fd)")) } else { succeed(()) }
        return .finished
    }
}
