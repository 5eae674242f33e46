// Runs Swift tasks on a loop's own thread.
//
// Why: a task that awaits I/O from another thread pays two cross-thread hops
// per request (task -> loop, loop -> task), each a futex wake when the other
// side sleeps. A task running on the loop thread pays neither: its request is
// staged directly, and when the CQE arrives its continuation job is queued
// locally and run by the same thread a moment later. How jobs travel is
// `LoopJobRouter`'s business; actors use `serialExecutor` instead.

/// The task executor of one loop.
///
/// Use `withTaskExecutorPreference(handle.executor) { ... }` (or
/// `handle.run { ... }`) to run work on the loop thread, where I/O requests
/// skip the cross-thread queue and the eventfd entirely.
public final class LoopExecutor: TaskExecutor, Sendable {
    let router: LoopJobRouter
    /// The loop's serial executor, for actors that live on its thread.
    public let serialExecutor: LoopSerialExecutor

    init(channel: SubmissionChannel, waker: Waker) {
        router = LoopJobRouter(channel: channel, waker: waker)
        serialExecutor = LoopSerialExecutor(router: router)
    }

    /// Loop-thread-only state.
    var local: LoopLocalState { router.local }

    /// Whether the calling thread is this executor's loop thread.
    public var isCurrent: Bool { router.isCurrent }

    public func enqueue(_ job: consuming ExecutorJob) {
        router.enqueue(LoopJob(job: UnownedJob(job), isolated: false), serial: serialExecutor)
    }

    /// The serial executor for an actor's `unownedExecutor`: the actor's
    /// code then runs on this loop's thread.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        serialExecutor.asUnownedSerialExecutor()
    }
}
