// One name lookup, run by one of the `LookupThreads`, and the caller that
// waits for it.
//
// Invariant: the caller's continuation is resumed exactly once, by whichever
// of three finishes first: the lookup's thread (its answer), the deadline's
// timer (`.timedOut`) or the task's cancellation (`CancellationError`). Each
// goes through `finish`, under the lock; the first to get there takes the
// continuation, or, if the continuation is not installed yet (a cancel that
// came before the suspension), leaves its outcome for `install` to deliver.
// Later ones find the outcome taken and do nothing, so a lookup that ends
// after its caller gave up only frees its answer, and one its caller gave up
// on before a thread took it is not run at all. (A checked continuation: a
// lookup costs a thread's time anyway, and a second resume would trap.)
import URing

final class HostLookup: Sendable {
    private struct State {
        var continuation: CheckedContinuation<[SocketAddress], any Error>?
        var outcome: Result<[SocketAddress], any Error>?
        var timer: Task<Void, Never>?
    }

    private let state = Locked(State())

    /// Waits for `lookup(host)`, run by one of `threads`, or for `deadline`.
    static func run(
        host: String, deadline: ContinuousClock.Instant?, threads: LookupThreads = .shared,
        lookup: @escaping @Sendable (String) -> Result<[SocketAddress], IOError>
    ) async throws -> [SocketAddress] {
        let waiting = HostLookup()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Cancelled before it began: nothing to look up.
                guard waiting.install(continuation) else { return }
                if let deadline { waiting.startTimer(deadline, host: host) }
                threads.submit(LookupThreads.Job(waiting: waiting) { lookup(host).mapError { $0 as any Error } })
            }
        } onCancel: {
            waiting.finish(.failure(CancellationError()))
        }
    }

    /// Hands `continuation` to whoever finishes first; false if an outcome
    /// came before it (it is then resumed with that at once).
    private func install(_ continuation: CheckedContinuation<[SocketAddress], any Error>) -> Bool {
        let early: Result<[SocketAddress], any Error>? = state.withLock { state in
            if state.outcome == nil { state.continuation = continuation }
            return state.outcome
        }
        guard let early else { return true }
        continuation.resume(with: early)
        return false
    }

    /// Whether the caller has its outcome (or will get it at `install`).
    var isFinished: Bool { state.withLock { $0.outcome != nil } }

    /// Delivers `outcome` unless another one was first.
    func finish(_ outcome: Result<[SocketAddress], any Error>) {
        let (continuation, timer) = state.withLock { state -> (CheckedContinuation<[SocketAddress], any Error>?, Task<Void, Never>?) in
            guard state.outcome == nil else { return (nil, nil) }
            state.outcome = outcome
            guard let continuation = state.continuation else { return (nil, nil) }
            state.continuation = nil
            defer { state.timer = nil }
            return (continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume(with: outcome)
    }

    /// Ends the wait with `.timedOut` at `deadline`, unless it ended first.
    private func startTimer(_ deadline: ContinuousClock.Instant, host: String) {
        let timer = Task { [self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            guard !Task.isCancelled else { return }
            finish(.failure(IOError("resolve", .timedOut, context: host)))
        }
        let stale = state.withLock { state -> Bool in
            // The continuation is installed by now, so an outcome means
            // it was delivered.
            guard state.outcome == nil else { return true }
            state.timer = timer
            return false
        }
        if stale { timer.cancel() }
    }
}
