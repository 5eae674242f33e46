// A job queued for a loop thread, tagged with the executor it was sent to.
//
// Why the tag: the runtime hands task jobs (tasks that prefer the loop) and
// actor jobs (actors whose serial executor is the loop) to two different
// executors, and they must run differently. A task job runs with the loop as
// task executor and the generic serial executor active, so the hop every
// nonisolated async function makes after an `await` stays on this thread
// without a re-enqueue. An actor job runs isolated to the loop's serial
// executor, which the actor's own hops check for.

/// One job for a loop thread and how to run it.
struct LoopJob {
    let job: UnownedJob
    /// Sent to `LoopSerialExecutor` (an actor's job) rather than to the task
    /// executor.
    let isolated: Bool
}
