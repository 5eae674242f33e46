// A loop group as the process's global concurrent executor.
//
// Why: a task without an executor preference runs on the runtime's thread
// pool, so every request it awaits costs two cross-thread hops, and the
// pool parks its threads as soon as they idle: resuming a task often means
// waking one (tens of microseconds on a busy machine). Taking over the
// global executor gives every ordinary task what `withTaskExecutorPreference`
// gives one: it runs on a loop, and once it runs where its I/O completes,
// its requests are staged directly and it resumes without a wake.
//
// How: the runtime calls `swift_task_enqueueGlobal_hook`, when set, for
// every job bound for its global executor (SwiftNIO's singleton takeover
// uses the same hook). The hook sends each job
//  - enqueued on a loop thread (any loop's: a continuation resumed by a
//    CQE, a child task started there, a yield) to that loop's local queue,
//    so a task follows its I/O to the ring that serves it;
//  - enqueued anywhere else to the group's loops in turn, through their
//    channel and Waker like any cross-thread job;
//  - refused by every loop of the group (all have exited) to the runtime's
//    own executor: no job is ever dropped.
//
// Invariants: at most one takeover per process, never undone; the group is
// retained for the life of the process (the hook may run at any moment on
// any thread). Jobs of the main actor and delayed jobs (`Task.sleep`) are
// not global enqueues and keep the runtime's own threads.
import CURing
import Synchronization
import URing

enum GlobalExecutorTakeover {
    private typealias OriginalEnqueue = @convention(thin) (UnownedJob) -> Void
    private typealias EnqueueHook = @convention(thin) (UnownedJob, OriginalEnqueue) -> Void

    /// The group jobs go to, retained forever once set: the address of an
    /// unmanaged `LoopGroup`, or 0.
    private static let group = Atomic<UInt>(0)

    static func install(_ loops: LoopGroup) throws(IOError) {
        let operation = "install global executor"
        let retained = Unmanaged.passRetained(loops)
        let address = UInt(bitPattern: retained.toOpaque())
        guard group.compareExchange(expected: 0, desired: address, ordering: .acquiringAndReleasing).exchanged else {
            retained.release()
            throw IOError(operation, .invalidArgument("a loop group is already this process's global executor"))
        }
        let hook: EnqueueHook = { job, original in
            if !GlobalExecutorTakeover.enqueue(job) { original(job) }
        }
        let result = curing_install_global_enqueue_hook(unsafeBitCast(hook, to: UnsafeMutableRawPointer.self))
        guard result == 0 else {
            // The hook never pointed here, so nothing can be using the group.
            group.store(0, ordering: .releasing)
            retained.release()
            if result == -EEXIST {
                throw IOError(operation, .invalidArgument(
                    "another global executor hook is installed in this process (SwiftNIO's singleton takeover, for one)"))
            }
            throw IOError(operation, .errno(-result))
        }
    }

    /// Places a global job on a loop; false when no loop would take it.
    private static func enqueue(_ job: UnownedJob) -> Bool {
        let job = LoopJob(job: job, isolated: false)
        if LoopJobRouter.enqueueOnCurrentLoop(job) { return true }
        guard let pointer = UnsafeRawPointer(bitPattern: group.load(ordering: .acquiring)) else { return false }
        let loops = Unmanaged<LoopGroup>.fromOpaque(pointer).takeUnretainedValue()
        // Round-robin; a loop that has exited refuses, so try each at most once.
        for _ in loops.handles.indices {
            if loops.next().executor.router.enqueueFromOtherThread(job) { return true }
        }
        return false
    }
}
