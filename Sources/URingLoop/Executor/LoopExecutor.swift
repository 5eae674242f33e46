// Runs Swift tasks (and actors) on a loop's own thread.
//
// Why: a task that awaits I/O from another thread pays two cross-thread hops
// per request (task -> loop, loop -> task), each a futex wake when the other
// side sleeps. A task running on the loop thread pays neither: its request is
// staged directly, and when the CQE arrives its continuation job is queued
// locally and run by the same thread a moment later.
//
// Paths:
// - `enqueue` from the loop thread itself (a resumed continuation, a child
//   task): appended to the loop-local job queue. No lock, no sequence, no
//   eventfd.
// - `enqueue` from any other thread: a message on the loop's channel plus a
//   Waker publish, exactly like a request (one wake path, not two).
// - After the loop has exited, jobs are handed to the global concurrent
//   executor, so no task is ever stranded.
//
// Thread confinement (why `@unchecked Sendable` is sound): `local` is read
// and written only on the loop thread, which is checked through the
// thread-local "current loop" pointer set by that thread alone.
import CURing
import URing

/// The task executor (and serial executor, for actors) of one loop.
///
/// Use `withTaskExecutorPreference(handle.executor) { ... }` (or
/// `handle.run { ... }`) to run work on the loop thread, where I/O requests
/// skip the cross-thread queue and the eventfd entirely.
public final class LoopExecutor: TaskExecutor, SerialExecutor, @unchecked Sendable {
    let channel: SubmissionChannel
    let waker: Waker
    /// Loop-thread-only state.
    let local = LoopLocalState()

    init(channel: SubmissionChannel, waker: Waker) {
        self.channel = channel
        self.waker = waker
    }

    /// Whether the calling thread is this executor's loop thread.
    public var isCurrent: Bool {
        curing_current_loop() == Unmanaged.passUnretained(self).toOpaque()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isCurrent {
            local.jobs.append(job)
        } else if channel.enqueueJob(job) {
            waker.publish()
        } else {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(isCurrent, "expected to run on the loop's thread")
    }
}

/// What only the loop thread touches: jobs to run and requests made by tasks
/// running on it.
final class LoopLocalState {
    // Loop-thread confined (see above): no dynamic exclusivity checks needed.
    @exclusivity(unchecked) var jobs = RingBuffer<UnownedJob>(capacity: 256)
    @exclusivity(unchecked) var directRequests = RingBuffer<Request>(capacity: 64)
    /// Set once the loop is shutting down: direct requests fail with `.shutdown`.
    var isClosing = false
    /// Jobs run and requests submitted directly, for statistics.
    @exclusivity(unchecked) var jobsRun: UInt64 = 0
    @exclusivity(unchecked) var directSubmissions: UInt64 = 0
}
