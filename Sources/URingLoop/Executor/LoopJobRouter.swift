// The one path by which jobs reach a loop thread, shared by its task
// executor and its serial executor.
//
// - From the loop thread itself (a resumed continuation, a child task): the
//   loop-local job queue. No lock, no sequence, no eventfd.
// - From any other thread: a message on the loop's channel plus a Waker
//   publish, exactly like a request (one wake path, not two).
// - Once the loop has exited: task jobs go to the global concurrent
//   executor (the task continues there); actor jobs go to the process-wide
//   `OrphanedActorJobs` thread, which keeps them serial.
//
// Thread confinement (why `@unchecked Sendable` is sound): `local` is read
// and written only on the loop thread, recognised through the thread-local
// "current loop" pointer that only that thread sets (to `local`).
import CURing
import URing

final class LoopJobRouter: @unchecked Sendable {
    let channel: SubmissionChannel
    let waker: Waker
    /// Loop-thread-only state.
    let local = LoopLocalState()

    init(channel: SubmissionChannel, waker: Waker) {
        self.channel = channel
        self.waker = waker
    }

    /// The thread-local value that marks this loop's thread.
    var identity: UnsafeMutableRawPointer { Unmanaged.passUnretained(local).toOpaque() }

    /// Whether the calling thread is this loop's thread.
    @inline(__always)
    var isCurrent: Bool { curing_current_loop() == identity }

    /// Queues `job` to run on the loop thread (or, after the loop exited,
    /// wherever it still can run; `serial` is the executor an actor job
    /// must stay isolated to).
    func enqueue(_ job: LoopJob, serial: LoopSerialExecutor) {
        if isCurrent {
            local.jobs.append(job)
        } else if !enqueueFromOtherThread(job) {
            Self.runElsewhere(job, serial: serial)
        }
    }

    /// Queues `job` from a thread that is not this loop's; false once the
    /// loop has exited (the caller then decides where the job runs).
    func enqueueFromOtherThread(_ job: LoopJob) -> Bool {
        guard channel.enqueueJob(job) else { return false }
        waker.publish()
        return true
    }

    /// Queues `job` on the loop whose thread is calling, if it is one:
    /// whichever loop that is, the job runs there next, locally.
    static func enqueueOnCurrentLoop(_ job: LoopJob) -> Bool {
        // The pointer is set only by a loop thread, to its own `local`,
        // and cleared before that thread stops running jobs.
        guard let current = curing_current_loop() else { return false }
        Unmanaged<LoopLocalState>.fromOpaque(current).takeUnretainedValue().jobs.append(job)
        return true
    }

    /// Where a job goes once its loop no longer runs anything.
    static func runElsewhere(_ job: LoopJob, serial: LoopSerialExecutor) {
        if job.isolated {
            OrphanedActorJobs.shared.enqueue(job.job, isolatedTo: serial)
        } else {
            globalConcurrentExecutor.enqueue(ExecutorJob(job.job))
        }
    }
}
