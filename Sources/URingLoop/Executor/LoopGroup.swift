// Several loops for several cores. Work is spread round-robin, or pinned by
// key so that one connection or blob always lands on the same ring.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import Synchronization
import URing

/// N independent loops (default: one per usable CPU), each with its own
/// thread and ring; nothing is shared between them.
public final class LoopGroup: Sendable {
    /// The loops, in a fixed order.
    public let handles: [Handle]
    /// Unsigned, so wrapping after 2^64 picks still gives a valid index.
    private let cursor = Atomic<UInt>(0)

    /// Starts `count` loops (default: one per CPU they may use: those of
    /// `configuration.cpuAffinity`, or else those of the calling thread,
    /// which respects `taskset` and cgroup cpusets).
    ///
    /// With `pinningLoopsToCPUs`, loop i runs only on the i-th of those CPUs
    /// (wrapping around): one loop per core, each staying where its ring and
    /// tasks are warm (see `LoopConfiguration.cpuAffinity`).
    public convenience init(count: Int? = nil, configuration: LoopConfiguration = LoopConfiguration(),
                            pinningLoopsToCPUs: Bool = false) throws(IOError) {
        try self.init(count: count, configuration: configuration, pinningLoopsToCPUs: pinningLoopsToCPUs, faults: nil)
    }

    /// Starts the loops with `faults` injected into each (this package's tests).
    package init(count: Int?, configuration: LoopConfiguration, pinningLoopsToCPUs: Bool,
                 faults: FaultPlan?) throws(IOError) {
        // Validated first so that a bad affinity is reported as such, not
        // as the failure to read this thread's.
        _ = try configuration.validated()
        var cpus: [Int]
        if let chosen = configuration.cpuAffinity {
            cpus = chosen.sorted()
        } else if pinningLoopsToCPUs {
            cpus = try LoopGroup.usableCPUs()
        } else {
            // Only a default count depends on it: unreadable, count online CPUs.
            cpus = (try? LoopGroup.usableCPUs()) ?? []
        }
        let count = count ?? (cpus.isEmpty ? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) : cpus.count)
        guard count > 0 && count <= 1024 else {
            throw IOError("loop group", .invalidArgument("a group needs 1...1024 loops, got \(count)"))
        }
        var handles: [Handle] = []
        for index in 0..<count {
            var each = configuration
            each.threadName = "\(configuration.threadName.prefix(11))-\(index)"
            if pinningLoopsToCPUs { each.cpuAffinity = [cpus[index % cpus.count]] }
            handles.append(try IOLoop.start(each, faults: faults))
        }
        self.handles = handles
    }

    /// The CPUs the calling thread may run on, ascending: what
    /// `pinningLoopsToCPUs` spreads loops over when the configuration names
    /// none.
    public static func usableCPUs() throws(IOError) -> [Int] {
        try ThreadAffinity.currentThreadCPUs()
    }

    /// The index of the `pick`th round-robin choice among `count` loops,
    /// valid for every pick (the counter wraps).
    static func roundRobinIndex(pick: UInt, of count: Int) -> Int {
        Int(pick % UInt(count))
    }

    /// The next loop, round-robin.
    public func next() -> Handle {
        handles[LoopGroup.roundRobinIndex(pick: cursor.wrappingAdd(1, ordering: .relaxed).oldValue, of: handles.count)]
    }

    /// The loop for `key`: the same key always gets the same loop (within
    /// this process), so its work stays on one ring and one thread.
    public func handle(for key: some Hashable) -> Handle {
        var hasher = Hasher()
        hasher.combine(key)
        let hash = hasher.finalize()
        return handles[Int(UInt(bitPattern: hash) % UInt(handles.count))]
    }

    /// The loop whose thread is calling, if the caller runs on one of them.
    public var current: Handle? {
        // One thread-local read, then pointer compares (this runs on every
        // storage operation of a group-backed Storage).
        guard let loop = curing_current_loop() else { return nil }
        return handles.first { $0.executor.router.identity == loop }
    }

    /// Makes this group Swift Concurrency's global concurrent executor, for
    /// the rest of the process: every job the runtime would run on its
    /// thread pool (tasks without an executor preference, default actors)
    /// runs on these loops instead, and a task continues on the loop where
    /// its last I/O completed, so its next request is staged directly. Use
    /// the same group for `Network` and `Storage` and ordinary tasks get
    /// what `withTaskExecutorPreference` gives one (see
    /// `GlobalExecutorTakeover` for where each job goes).
    ///
    /// Unsafe in two ways. It sets a hook of the Swift runtime that is not
    /// public API (SwiftNIO's singleton takeover uses the same one). And a
    /// task that blocks its thread, or computes for long, now holds up a
    /// loop's I/O and every task queued behind it. Work started on a loop
    /// stays there until its I/O takes it elsewhere: child tasks begin on
    /// their parent's loop, so spread CPU-bound children yourself (an
    /// executor preference for `next()`). Jobs run in arrival order,
    /// whatever their priority. Main-actor jobs and the first steps after a
    /// `Task.sleep` stay on the runtime's threads. Once the group is shut
    /// down, jobs go back to the runtime's pool.
    ///
    /// - Throws: `IOError` if a group was installed already or another
    ///   hook is set (both `.invalidArgument`), or `ENOSYS` when this Swift
    ///   runtime has no such hook.
    public func unsafeInstallAsGlobalExecutor() throws(IOError) {
        try GlobalExecutorTakeover.install(self)
    }

    /// Shuts every loop down (each drains its in-flight work, or with
    /// `cancellingInFlight` cancels it: see `Handle.shutdown`).
    public func shutdown(cancellingInFlight: Bool = false) async {
        for handle in handles { await handle.shutdown(cancellingInFlight: cancellingInFlight) }
    }
}
