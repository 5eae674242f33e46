// A request whose caller awaits a `Value`: holds the continuation and makes
// sure it is resumed exactly once.

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
        lifecycle.store(Request.finished, ordering: .relaxed)
        return continuation
    }
}
