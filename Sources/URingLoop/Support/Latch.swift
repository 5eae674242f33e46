// A one-way signal tasks can await: closed until `open()`, open for good
// after. The loop's termination is one (its thread opens it as it exits).
//
// Invariant: a waiter is either resumed by the `open()` that empties the
// list or, arriving after it, resumes itself; the flag and the list change
// under one lock, so none is missed and none resumed twice.

package final class Latch: Sendable {
    private let state = Locked<(isOpen: Bool, waiters: [UnsafeContinuation<Void, Never>])>((false, []))

    package init() {}

    /// Opens the latch and resumes everyone waiting; later calls do nothing.
    package func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    package var isOpen: Bool { state.withLock { $0.isOpen } }

    /// Returns once the latch is open (at once if it already is). Not
    /// cancellable: a cancelled task still waits for `open()`.
    package func wait() async {
        await withUnsafeContinuation { continuation in
            let open = state.withLock { state in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }
}
