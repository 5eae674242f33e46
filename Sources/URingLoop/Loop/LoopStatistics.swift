// A snapshot of a loop's counters, for benchmarks and diagnostics.

/// What a loop has done so far. Counters only grow; `pendingRequests` is a gauge.
public struct LoopStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Requests admitted and not yet finished: on a network's receive loop
    /// that includes every receive waiting for data and the accepts each
    /// listener keeps armed ahead (`NetworkConfiguration.acceptDepth`).
    public var pendingRequests: UInt64 = 0
    /// Requests finished (any outcome).
    public var requestsCompleted: UInt64 = 0
    /// Successful eventfd writes (producers ringing a sleeping loop).
    public var eventfdWrites: UInt64 = 0
    /// FUTEX_WAKE calls (producers waking a loop asleep with nothing in
    /// the kernel).
    public var futexWakes: UInt64 = 0
    /// Times the loop slept on its futex rather than in io_uring_enter.
    public var futexSleeps: UInt64 = 0
    /// Wake-poll CQEs the loop reaped.
    public var wakeCompletions: UInt64 = 0
    /// io_uring_enter system calls the loop made.
    public var enterCalls: UInt64 = 0
    /// Requests that ended because their deadline passed.
    public var timeouts: UInt64 = 0
    /// Deadlines farther away than the timing wheel reaches, put back on it
    /// at its horizon (see `LoopConfiguration.timeoutWheelHorizon`).
    public var deadlinesRearmed: UInt64 = 0
    /// Requests ended by their task's cancellation.
    public var cancellations: UInt64 = 0
    /// Requests abandoned by a shutdown timeout.
    public var abandoned: UInt64 = 0
    /// Messages (requests, cancels, jobs) taken from the cross-thread channel.
    public var channelMessages: UInt64 = 0
    /// Executor jobs run on the loop thread.
    public var jobsRun: UInt64 = 0
    /// Requests staged directly by tasks running on the loop thread.
    public var directSubmissions: UInt64 = 0
    /// Idle spins cut short because a yield came back late: another thread
    /// held the loop's CPU, so the loop slept instead of spinning for a
    /// while (see `IdleSpinner`). Many of them mean the loop competes for
    /// its CPU.
    public var spinBackOffs: UInt64 = 0
    /// Submissions made mid-pass to keep file reads that go to a device in
    /// pairs (see `LoopConfiguration.pacesDeviceReads`).
    public var pacedSubmissions: UInt64 = 0
    /// Reads the page cache answered whole on their callers' threads
    /// (`Handle.read`'s `cacheFirst`): they never reached the ring, so no
    /// other counter includes them.
    public var readsFromCache: UInt64 = 0
    /// Socket receives answered on their callers' threads from what the
    /// socket already held (`Handle.receive`'s `readyFirst`): they never
    /// reached the ring, so no other counter includes them.
    public var immediateReceives: UInt64 = 0
    /// Socket sends the socket took whole on their callers' threads
    /// (`Handle.send`'s `readyFirst`), likewise outside every other counter.
    public var immediateSends: UInt64 = 0

    public init() {}

    public var description: String {
        "pending=\(pendingRequests) completed=\(requestsCompleted) eventfd_writes=\(eventfdWrites) "
            + "futex_wakes=\(futexWakes) futex_sleeps=\(futexSleeps) "
            + "wake_cqes=\(wakeCompletions) enter_calls=\(enterCalls) timeouts=\(timeouts) "
            + "deadlines_rearmed=\(deadlinesRearmed) cancellations=\(cancellations) abandoned=\(abandoned) channel_messages=\(channelMessages) "
            + "jobs_run=\(jobsRun) direct_submissions=\(directSubmissions) spin_back_offs=\(spinBackOffs) "
            + "paced_submissions=\(pacedSubmissions) reads_from_cache=\(readsFromCache) "
            + "immediate_receives=\(immediateReceives) immediate_sends=\(immediateSends)"
    }
}
