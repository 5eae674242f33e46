// The serial executor of one loop, for actors that want to live on its
// thread:
//
//     actor Connection {
//         nonisolated let executor: LoopExecutor
//         nonisolated var unownedExecutor: UnownedSerialExecutor {
//             executor.asUnownedSerialExecutor()
//         }
//     }
//
// It is a separate object from `LoopExecutor` (the task executor) because
// the runtime calls the same `enqueue` requirement on both, and an actor's
// job must run isolated to the loop while a task's job must not be (see
// `LoopJob`).

/// Runs actor jobs on a loop's thread, serially and in order.
public final class LoopSerialExecutor: SerialExecutor, Sendable {
    let router: LoopJobRouter

    init(router: LoopJobRouter) {
        self.router = router
    }

    /// Whether the calling thread is the loop's thread.
    public var isCurrent: Bool { router.isCurrent }

    public func enqueue(_ job: consuming ExecutorJob) {
        router.enqueue(LoopJob(job: UnownedJob(job), isolated: true), serial: self)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(router.isCurrent || OrphanedActorJobs.shared.isRunning(self),
                     "expected to run on the loop's thread")
    }
}
