// A request whose caller awaits a `Value` (or, for requests submitted with a
// completion handler, is called back with it): makes sure the caller hears
// of the outcome exactly once.

@usableFromInline
class ValueRequest<Value: Sendable>: Request, @unchecked Sendable {
    /// Set by the submitting task before the hand-off; taken by the one resume.
    var continuation: UnsafeContinuation<Value, any Error>?
    /// Instead of a continuation: called once, on the loop thread (or on the
    /// submitter's thread when the hand-off itself fails).
    var completionHandler: (@Sendable (Result<Value, any Error>) -> Void)?

    final func succeed(_ value: Value) {
        if let continuation = takeContinuation() {
            continuation.resume(returning: value)
        } else {
            takeCompletionHandler()(.success(value))
        }
    }

    override final func fail(_ error: any Error) {
        if let continuation = takeContinuation() {
            continuation.resume(throwing: error)
        } else {
            takeCompletionHandler()(.failure(error))
        }
    }

    /// The waiting task's continuation, or nil when a completion handler
    /// waits instead.
    private func takeContinuation() -> UnsafeContinuation<Value, any Error>? {
        guard let continuation else { return nil }
        self.continuation = nil
        // Release: everything the loop wrote for this request (buffer bytes,
        // counts) happens-before the caller's acquire load after it resumes.
        // The runtime orders resume and task execution too, but invisibly to
        // ThreadSanitizer; this edge is explicit and costs nothing on x86.
        lifecycle.store(Request.finished, ordering: .releasing)
        return continuation
    }

    private func takeCompletionHandler() -> @Sendable (Result<Value, any Error>) -> Void {
        guard let completionHandler else {
            preconditionFailure("\(operation) request resumed twice")
        }
        self.completionHandler = nil
        lifecycle.store(Request.finished, ordering: .releasing)
        return completionHandler
    }
}
