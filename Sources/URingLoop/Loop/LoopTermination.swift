// Lets tasks await the end of a loop thread (after its shutdown drain).

final class LoopTermination: Sendable {
    private let state = Locked<(finished: Bool, waiters: [UnsafeContinuation<Void, Never>])>((false, []))

    /// Called once by the loop thread as it exits.
    func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// Returns once the loop has exited.
    func wait() async {
        await withUnsafeContinuation { continuation in
            let done = state.withLock { state in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
