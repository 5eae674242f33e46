// Parameters of a new ring beyond its entry count.

/// How to build a `Ring`. The defaults give a plain interrupt-driven ring.
public struct RingOptions: Sendable, Hashable {
    /// Setup flags. `submissionQueuePoll` is added when `submissionThreadIdle` is set.
    public var flags: SetupFlags
    /// Completion-queue size; `nil` lets the kernel use twice the SQ size.
    /// Rounded up to a power of two by the kernel.
    public var completionQueueEntries: UInt32?
    /// With a value, a kernel thread polls the SQ (SQPOLL) and sleeps after
    /// this much idle time.
    public var submissionThreadIdle: Duration?
    /// Pins the SQPOLL thread to a CPU.
    public var submissionThreadCPU: UInt32?

    public init(
        flags: SetupFlags = [],
        completionQueueEntries: UInt32? = nil,
        submissionThreadIdle: Duration? = nil,
        submissionThreadCPU: UInt32? = nil
    ) {
        self.flags = flags
        self.completionQueueEntries = completionQueueEntries
        self.submissionThreadIdle = submissionThreadIdle
        self.submissionThreadCPU = submissionThreadCPU
    }
}
