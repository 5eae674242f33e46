// Where actor jobs go once the loop their actor lives on has exited.
//
// An actor whose serial executor is a loop can outlive the loop (it holds
// the executor, not a handle). Its jobs cannot go to the global executor:
// they would hop straight back to the actor's executor, forever. Instead one
// process-wide thread, started the first time it is needed, runs them in
// order, one at a time, isolated to the executor they were sent to; so the
// actor keeps working (and keeps its mutual exclusion), just no longer on
// the loop's thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class OrphanedActorJobs: @unchecked Sendable {
    // `@unchecked Sendable`: `queue`, `started`, `runner` and `running` are
    // only touched with `mutex` held.
    static let shared = OrphanedActorJobs()

    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue = RingBuffer<(UnownedJob, LoopSerialExecutor)>()
    private var started = false
    /// The thread that runs the jobs, once it has started.
    private var runner: pthread_t?
    /// The executor whose job that thread is running now, for `checkIsolated`.
    private var running: ObjectIdentifier?

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func enqueue(_ job: UnownedJob, isolatedTo serial: LoopSerialExecutor) {
        pthread_mutex_lock(&mutex)
        queue.append((job, serial))
        let start = !started
        started = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
        if start {
            // If no thread can be made, there is nowhere left to run the
            // job: that is fatal, like any failure to schedule a task.
            do { try LoopThread.spawn(name: "uring-orphans") { self.serve() } } catch {
                fatalError("cannot start the thread for actors of exited loops: \(error)")
            }
        }
    }

    /// Whether the calling thread is the orphan thread, running a job
    /// isolated to `executor`.
    func isRunning(_ executor: LoopSerialExecutor) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard let runner, pthread_equal(runner, pthread_self()) != 0 else { return false }
        return running == ObjectIdentifier(executor)
    }

    private func serve() {
        pthread_mutex_lock(&mutex)
        runner = pthread_self()
        while true {
            while queue.isEmpty { pthread_cond_wait(&condition, &mutex) }
            let (job, serial) = queue.popFirst()!
            running = ObjectIdentifier(serial)
            pthread_mutex_unlock(&mutex)
            job.runSynchronously(on: serial.asUnownedSerialExecutor())
            pthread_mutex_lock(&mutex)
            running = nil
        }
    }
}
