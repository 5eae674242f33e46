// Flags for io_uring_setup, as an OptionSet over IORING_SETUP_*.
import CURing

/// How the kernel should build a ring (`IORING_SETUP_*`).
public struct SetupFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Busy-poll for completions (O_DIRECT files on polled block devices only).
    public static let ioPoll = SetupFlags(rawValue: IORING_SETUP_IOPOLL)
    /// A kernel thread polls the SQ; set through `RingOptions.submissionThreadIdle`.
    public static let submissionQueuePoll = SetupFlags(rawValue: IORING_SETUP_SQPOLL)
    /// Clamp oversized entry counts to the maximum instead of failing.
    public static let clamp = SetupFlags(rawValue: IORING_SETUP_CLAMP)
    /// Keep submitting the rest of a batch when one SQE fails to prepare.
    public static let submitAll = SetupFlags(rawValue: IORING_SETUP_SUBMIT_ALL)
    /// Do not interrupt the task to run completion work; run it on the next enter.
    public static let cooperativeTaskRun = SetupFlags(rawValue: IORING_SETUP_COOP_TASKRUN)
    /// With `cooperativeTaskRun` or `deferTaskRun`: the kernel sets
    /// `IORING_SQ_TASKRUN` when completion work waits for this thread, so a
    /// non-waiting submit knows it must enter to collect it.
    public static let taskRunFlag = SetupFlags(rawValue: IORING_SETUP_TASKRUN_FLAG)
    /// Only one thread ever submits to this ring: the creating thread, or
    /// with `startsDisabled` the thread that enables it.
    public static let singleIssuer = SetupFlags(rawValue: IORING_SETUP_SINGLE_ISSUER)
    /// The ring refuses submissions (EBADFD) until `Ring.enable()`: one
    /// thread can create it, so that setup errors are its to report, and
    /// hand it to another that enables it and, with `singleIssuer`, becomes
    /// its issuer (`IORING_SETUP_R_DISABLED`).
    public static let startsDisabled = SetupFlags(rawValue: IORING_SETUP_R_DISABLED)
    /// Run completion work only when the issuer enters the kernel to wait
    /// (requires `singleIssuer`): fewer interrupts, better batching.
    public static let deferTaskRun = SetupFlags(rawValue: IORING_SETUP_DEFER_TASKRUN)
}
