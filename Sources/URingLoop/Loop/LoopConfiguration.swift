// How a loop is built: ring size and flags, request timeouts, shutdown.
import URing

/// The settings of one `IOLoop`.
public struct LoopConfiguration: Sendable, Hashable {
    /// Submission-queue entries, rounded up to a power of two: the most
    /// requests one `io_uring_enter` hands the kernel (a pass with more
    /// submits as it goes).
    public var size: UInt32 = 256
    /// The most requests the loop holds at once, submitted or waiting for
    /// room in the submission queue; producers beyond it wait (without
    /// blocking a thread). A request holds its place until it completes,
    /// so a server's receive loop needs one per connection waiting for
    /// data: size this by connections, not by batch. At most
    /// `LoopConfiguration.maximumRequestCapacity`. The loop's bookkeeping
    /// grows with the requests actually held, not with this bound.
    public var requestCapacity = 4096
    /// Busy-poll completions (IOPOLL): only for O_DIRECT I/O on polled devices.
    public var ioPoll = false
    /// Create the ring as `SINGLE_ISSUER | DEFER_TASKRUN` (the loop thread is
    /// the only submitter): fewer interrupts and better batching.
    public var singleIssuer = true
    /// With a value, a kernel thread polls the SQ (SQPOLL) and sleeps after
    /// this much idle time: submissions cost no system call while it is
    /// awake, at the price of a kernel thread spinning. Replaces
    /// DEFER_TASKRUN (the kernel does not combine the two).
    public var submissionPollIdle: Duration?
    /// How far ahead the timing wheel reaches, which sizes it (a slot per
    /// tick). A deadline farther away is held at the horizon and re-armed
    /// there, as many times as it takes: it still fires at its time, never
    /// early, for one more wheel entry per horizon it waits.
    public var timeoutWheelHorizon: Duration = .seconds(60)
    /// After the last handle is gone (or `shutdown()`), how long in-flight
    /// work may take before it is abandoned (its callers get `.abandoned`;
    /// the loop asks the kernel to cancel it and releases it when the
    /// kernel gives it back); `nil` waits for all of it.
    public var shutdownTimeout: Duration?
    /// The timing wheel's resolution: deadlines fire at most this late.
    public var timeoutWheelTick: Duration = .milliseconds(5)
    /// Before sleeping after a pass that resumed callers, the loop keeps
    /// yielding its CPU, waiting for their next request or a completion:
    /// at least this long, and up to ten times this (at most 1 ms, unless
    /// this is longer) when callers have been coming back just too late
    /// (zero sleeps at once). Under load this
    /// saves the eventfd write and the cross-CPU wake (tens of microseconds)
    /// that sleeping would cost.
    public var idleSpin: Duration = .microseconds(20)
    /// The most executor jobs the loop runs between two reaps of the
    /// completion queue, so running tasks never starve I/O.
    public var jobBatch = 128
    /// The CPUs the loop thread may run on (`nil`: wherever the scheduler
    /// puts it). One CPU pins the loop to it: its ring and the tasks it
    /// runs stay in that CPU's caches and never share a core with a sibling
    /// loop, but the scheduler can no longer move the loop off a busy CPU.
    /// Starting fails if none of them is online and allowed to the process.
    public var cpuAffinity: Set<Int>?
    /// The loop thread's nice value, -20...19 (`nil`: the starting thread's).
    /// At the default the kernel gives a loop the CPU share of any one
    /// thread, though every task waits on it: when more threads are runnable
    /// than there are CPUs, a lower value keeps the loop served (ordinary
    /// tasks' NOP round trips rose about 30% at -10 on two CPUs, see
    /// BENCHMARKS.md). Lowering nice needs CAP_SYS_NICE or an RLIMIT_NICE
    /// that allows it; starting fails with the kernel's error otherwise.
    public var niceness: Int32?
    /// Submit file reads two per system call while they go to a device
    /// rather than the page cache, so the kernel does not hand them to the
    /// device as one plugged batch (see `ReadPacer`; the loop learns which
    /// kind it serves). Needs DEFER_TASKRUN (`singleIssuer` without
    /// `submissionPollIdle`) and no `ioPoll`; ignored otherwise. Off keeps
    /// the kernel's batching for every read, which a device that serves
    /// batches well (or a CPU-bound loop) may prefer.
    public var pacesDeviceReads = true
    /// When the loop holds no request the kernel could complete, it sleeps
    /// on a futex in its Waker instead of in io_uring_enter: a producer's
    /// wake is then one FUTEX_WAKE, with no eventfd write, no poll
    /// completion run as kernel task work and no acknowledging read (one
    /// system call less per wake on each side; see BENCHMARKS.md). While
    /// any request is in the kernel it sleeps in the ring as before. Off
    /// keeps every sleep in the ring, to compare the two.
    public var sleepsOnFutexWhenIdle = true
    /// The loop thread's name (first 15 bytes).
    public var threadName = "uring-loop"

    public init() {}

    /// The largest `requestCapacity`, 1,048,576: more than a process has
    /// descriptors by default, so a server's receive loop is bounded by its
    /// connections, not by this.
    public static let maximumRequestCapacity = 1 << 20

    /// Completion-queue entries for this configuration: every admitted
    /// request can have an operation CQE and a cancel CQE outstanding, plus
    /// wake CQEs, so four per request leave ample room (and the kernel
    /// wants at least as many as submission-queue entries), up to the
    /// kernel's largest queue. Past 16,384 requests that leaves fewer than
    /// four each: should more complete at once than the queue holds, the
    /// kernel keeps the rest (`IORING_FEAT_NODROP`) and hands them over at
    /// the loop's next enter, which always asks for completions when the
    /// kernel flags held ones. Slower for that pass; nothing is lost.
    var completionQueueEntries: UInt32 {
        if let completionQueueEntriesForTesting { return completionQueueEntriesForTesting }
        return min(max(UInt32(requestCapacity) * 4, size * 2), Ring.maximumCompletionEntries)
    }

    /// A smaller completion queue than the capacity calls for (this
    /// package's tests: completions that overflow it).
    package var completionQueueEntriesForTesting: UInt32?

    /// The configuration with `size` rounded up, or a clear error for values
    /// that cannot work.
    public func validated() throws(IOError) -> LoopConfiguration {
        var result = self
        guard size > 0 else { throw IOError("loop configuration", .invalidArgument("size must be at least 1")) }
        guard (1...LoopConfiguration.maximumRequestCapacity).contains(requestCapacity) else {
            throw IOError("loop configuration", .invalidArgument(
                "requestCapacity \(requestCapacity) is outside 1...\(LoopConfiguration.maximumRequestCapacity)"))
        }
        guard size <= Ring.maximumEntries else {
            throw IOError("loop configuration", .invalidArgument("size \(size) exceeds the kernel's maximum of \(Ring.maximumEntries) entries"))
        }
        guard timeoutWheelTick > .zero else {
            throw IOError("loop configuration", .invalidArgument("timeoutWheelTick must be greater than zero"))
        }
        guard timeoutWheelHorizon > .zero else {
            throw IOError("loop configuration", .invalidArgument("timeoutWheelHorizon must be greater than zero"))
        }
        guard timeoutWheelHorizon.clampedNanoseconds / timeoutWheelTick.clampedNanoseconds <= 1 << 22 else {
            throw IOError("loop configuration", .invalidArgument("timeoutWheelHorizon / timeoutWheelTick exceeds 4M slots; use a coarser tick"))
        }
        if let idle = submissionPollIdle, idle < .milliseconds(1) || idle > .seconds(60) {
            throw IOError("loop configuration", .invalidArgument("submissionPollIdle must be within 1 ms...60 s"))
        }
        guard jobBatch > 0 else {
            throw IOError("loop configuration", .invalidArgument("jobBatch must be positive"))
        }
        guard idleSpin >= .zero, idleSpin <= .milliseconds(10) else {
            throw IOError("loop configuration", .invalidArgument("idleSpin must be within 0...10 ms"))
        }
        if let cpuAffinity {
            guard !cpuAffinity.isEmpty else {
                throw IOError("loop configuration", .invalidArgument("cpuAffinity must name at least one CPU (nil: no affinity)"))
            }
            if let bad = cpuAffinity.sorted().first(where: { !(0..<ThreadAffinity.cpuLimit).contains($0) }) {
                throw IOError("loop configuration", .invalidArgument("cpuAffinity: CPU \(bad) is outside 0..<\(ThreadAffinity.cpuLimit)"))
            }
        }
        if let niceness, !ThreadPriority.nicenessRange.contains(niceness) {
            throw IOError("loop configuration", .invalidArgument("niceness \(niceness) is outside -20...19"))
        }
        if let shutdownTimeout, shutdownTimeout < .zero {
            throw IOError("loop configuration", .invalidArgument("shutdownTimeout must not be negative"))
        }
        result.size = Ring.roundUpToPowerOfTwo(size)
        return result
    }
}
