// A request whose caller awaits a `Value`: holds the continuation and makes
// sure it is resumed exactly once.

@usableFromInline
class ValueRequest<Value: Sendable>: Request, @unchecked Sendable {
    /// Set by the submitting task before the hand-off; taken by the one resume.
    var continuation: UnsafeContinuation<Value, any Error>?

    final func succeed(_ value: Value) {
        takeContinuation().resume(returning: value)
    }

    override final func fail(_ error: any Error) {
        takeContinuation().resume(throwing: error)
    }

    private func takeContinuation() -> UnsafeContinuation<Value, any Error> {
        guard let continuation else {
            preconditionFailure("\(operation) request resumed twice")
        }
        self.continuation = nil
        // Release: everything the loop wrote for this request (buffer bytes,
        // counts) happens-before the caller's acquire load after it resumes.
        // The runtime orders resume and task execution too, but invisibly to
        // ThreadSanitizer; this edge is explicit and costs nothing on x86.
        lifecycle.store(Request.finished, ordering: .releasing)
        return continuation
    }
}
