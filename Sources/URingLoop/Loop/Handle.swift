// The Sendable, cheap-to-copy front door of a loop.
import URing

/// Submits requests to one `IOLoop`. Copy it freely; when the last copy is
/// released the loop finishes its in-flight work and exits.
///
/// Every operation takes an optional `deadline`: when it passes, the request
/// is cancelled in the kernel and the call throws `IOError` with reason
/// `.timedOut`. Cancelling the calling task cancels the request the same way
/// and the call throws `CancellationError` (unless the operation completed
/// first, in which case its result is returned: its effect happened).
public struct Handle: Sendable {
    @usableFromInline let core: HandleCore

    init(core: HandleCore) {
        self.core = core
    }

    /// Stops taking requests, lets the loop drain what is in flight (bounded
    /// by `LoopConfiguration.shutdownTimeout`), and returns when its thread
    /// has exited. Later requests fail with `.shutdown`. Requests still in
    /// the kernel at the timeout end with `.abandoned`, and the call returns
    /// then; the loop thread stays until the kernel has given them back,
    /// freeing their memory and closing what a late success opened.
    /// Accepts a listener armed ahead of its callers are not waited for:
    /// they end with `.shutdown`, as does a caller waiting for one of them.
    /// Nor are tasks and actors running on the loop: a shutdown waits for
    /// I/O, not computation, so one that never ends (a ticker, an actor
    /// called in a loop) carries on on the global executor (an actor on a
    /// thread of its own) instead of holding the loop.
    ///
    /// With `cancellingInFlight`, the loop does not wait for requests that
    /// may never finish (a receive from a silent peer, an accept): every
    /// cancellable one still held, or still queued, ends with `.shutdown`
    /// (one the kernel completes first keeps its result). Requests made with
    /// `cancellable: false` (storage's file I/O) still run to completion.
    public func shutdown(cancellingInFlight: Bool = false) async {
        core.channel.close(cancellingInFlight: cancellingInFlight)
        core.waker.wakeForClose()
        await core.termination.wait()
    }

    /// The loop's executor: tasks that prefer it run on the loop thread and
    /// submit their I/O without crossing threads.
    public var executor: LoopExecutor { core.executor }

    /// Runs `body` with the loop's executor as task-executor preference:
    /// it and its child tasks run on the loop thread, and their requests
    /// are staged directly.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(core.executor) { try await body() }
    }

    /// The settings the loop runs with (validated: `size` rounded up).
    public var configuration: LoopConfiguration { core.configuration }

    /// Whether the loop has stopped: its thread has exited, or, after a
    /// shutdown timeout, stays only to release the requests it abandoned.
    public var isTerminated: Bool { core.termination.isOpen }

    /// The loop's counters as of its last iteration.
    public var statistics: LoopStatistics {
        core.counters.snapshot(waker: core.waker)
    }
}
