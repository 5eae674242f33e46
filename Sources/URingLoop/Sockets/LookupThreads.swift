// The threads that run blocking name lookups (`getaddrinfo`), a bounded
// number of them for the whole process.
//
// A lookup blocks its thread for as long as the resolver takes (the
// `resolv.conf` timeouts: ten seconds and more when a DNS server does not
// answer), so it can run neither on a loop nor on the cooperative pool. One new thread per lookup, though, lets a burst of dials during a
// resolver outage start thousands of threads, each blocked for the full
// timeout. Here lookups queue, and at most `limit` threads take them in
// order. A thread exits when it finds the queue empty, so an idle process
// keeps none, and a lookup whose caller stopped waiting (its deadline
// passed, its task was cancelled) before a thread reached it is dropped,
// not run.
//
// Invariants, under `state`'s lock: `running` counts the threads started
// and not yet exited, at most `limit`. A thread leaves only after finding
// the queue empty under the lock, and a job queued while fewer than `limit`
// threads run starts one, so no queued job is ever left without a thread to
// take it.
import URing

final class LookupThreads: Sendable {
    /// One queued lookup and the caller waiting for it.
    struct Job: Sendable {
        let waiting: HostLookup
        let lookup: @Sendable () -> Result<[SocketAddress], any Error>
    }

    private struct State {
        var queue = RingBuffer<Job>()
        var running = 0
    }

    /// The process's lookup threads: up to 32 lookups at once, enough for
    /// a resolver's normal latency and a bound on what an outage can hold.
    static let shared = LookupThreads(limit: 32)

    /// The most threads running lookups at once.
    let limit: Int
    private let state = Locked(State())
    /// Starts a thread (`LoopThread.spawn`; tests: one that fails).
    private let spawn: @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) -> Void

    /// Threads running now (for tests).
    var threadCount: Int { state.withLock { $0.running } }

    init(
        limit: Int,
        spawn: @escaping @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) -> Void
            = { name, body throws(IOError) in try LoopThread.spawn(name: name, body) }
    ) {
        precondition(limit > 0, "a lookup needs at least one thread")
        self.limit = limit
        self.spawn = spawn
    }

    /// Queues `job`, starting a thread for it if fewer than `limit` run.
    /// If no thread can be started and none runs, every queued job's caller
    /// gets the error instead.
    func submit(_ job: Job) {
        let startsThread = state.withLock { state in
            state.queue.append(job)
            guard state.running < limit else { return false }
            state.running += 1
            return true
        }
        guard startsThread else { return }
        do {
            try spawn("uring-resolve") { [self] in drain() }
        } catch {
            let stranded: [Job] = state.withLock { state in
                state.running -= 1
                // A running thread will reach the queue; with none, nothing would.
                guard state.running == 0 else { return [] }
                var jobs: [Job] = []
                state.queue.removeAll { jobs.append($0) }
                return jobs
            }
            for job in stranded { job.waiting.finish(.failure(error)) }
        }
    }

    /// A thread's life: lookups in order until the queue is empty.
    private func drain() {
        while let job = next() {
            guard !job.waiting.isFinished else { continue }
            job.waiting.finish(job.lookup())
        }
    }

    /// The next job, or nil after counting this thread out.
    private func next() -> Job? {
        state.withLock { state in
            if let job = state.queue.popFirst() { return job }
            state.running -= 1
            return nil
        }
    }
}
