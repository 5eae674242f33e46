// A mutex that suspends waiting tasks instead of blocking their threads, for
// the storage's metadata operations, which await the ring while holding it.
import URingLoop

final class AsyncMutex: Sendable {
    private let state = Locked<(held: Bool, waiters: [UnsafeContinuation<Void, Never>])>((false, []))

    /// Runs `body` with the mutex held; waiters are served in FIFO order.
    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withUnsafeContinuation { continuation in
            let acquired = state.withLock { state in
                if state.held {
                    state.waiters.append(continuation)
                    return false
                }
                state.held = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        // Ownership passes straight to the next waiter, so no one can barge in.
        let next = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
