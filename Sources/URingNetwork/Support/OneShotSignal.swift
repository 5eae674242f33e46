// An event that fires once and that tasks can wait for, for a bounded time:
// `Listener.close()` and `Network.shutdown()` fire one so that `serve`,
// pausing after a failed accept, stops at once instead of at the end of its
// pause; the two also read it as their closed / shutting-down flag.
//
// Invariants (all under the one lock, a pthread one so that TSan sees it):
// - every waiter's continuation is resumed exactly once: by `fire`, by its
//   task's cancellation, or at once when it registers after either;
// - a waiter cancelled before it registered leaves its id in
//   `cancelledBeforeRegistering`, which its registration consumes, so no id
//   stays there once its `wait` has returned.
import URingLoop

/// Fires once; `wait` returns when it has, or when the waiting task is cancelled.
final class OneShotSignal: Sendable {
    private struct State {
        var fired = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelledBeforeRegistering: Set<UInt64> = []
    }

    private let state = Locked(State())

    init() {}

    /// Whether `fire` has been called.
    var hasFired: Bool { state.withLock { $0.fired } }

    /// Fires the signal: every waiter returns, and later waits return at once.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the signal has fired or the calling task is cancelled.
    func wait() async {
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    let cancelled = state.cancelledBeforeRegistering.remove(id) != nil
                    if state.fired || cancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                // Not registered yet (or already resumed by `fire`): leave a
                // mark for the registration, unless it can no longer come.
                if !state.fired { state.cancelledBeforeRegistering.insert(id) }
                return nil
            }
            waiter?.resume()
        }
    }

    /// Returns once any of `signals` has fired, `duration` has passed, or
    /// the calling task is cancelled, whichever comes first.
    static func wait(forAnyOf signals: [OneShotSignal], atMost duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            for signal in signals { group.addTask { await signal.wait() } }
            await group.next()
            group.cancelAll()
        }
    }
}
