// IORING_OP_NOP: the ring's round trip with no I/O, for tests and benchmarks.
import URing

final class NopRequest: ValueRequest<Void>, @unchecked Sendable {
    init(deadline: ContinuousClock.Instant?) {
        super.init(operation: "nop", deadline: deadline, cancellable: false)
    }

    override func makeEntry() -> SubmissionEntry { .nop() }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result)) } else { succeed(()) }
        return .finished
    }
}
