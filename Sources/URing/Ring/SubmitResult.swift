// What a call to io_uring_enter achieved, apart from real errors (thrown).

/// The outcome of `Ring.submit()` and `Ring.submitAndWait(want:timeout:)`.
///
/// Real failures are thrown as `IOError`; what is left is success, a timeout
/// that expired, or a transient condition the caller should simply retry.
public enum SubmitResult: Sendable, Hashable {
    /// The kernel accepted this many SQEs (and, if asked, the wait was met).
    case submitted(Int)
    /// The wait's timeout passed before `want` completions arrived (`ETIME`).
    case timedOut
    /// A transient condition: `EINTR` (a signal), `EAGAIN` or `EBUSY`
    /// (the kernel is short of resources or the CQ must be drained first).
    /// Reap completions and call again.
    case retry(errno: Int32)
}
