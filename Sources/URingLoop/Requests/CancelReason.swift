// Why the loop cancels a request in the kernel; each reason maps to the
// error its caller gets (`.timedOut`, `CancellationError`, `.shutdown`).

/// Why the loop ends a request before the kernel does.
enum CancelReason {
    /// The request's deadline passed.
    case timeout
    /// The caller's task was cancelled.
    case task
    /// The loop is shutting down and cancels what still waits
    /// (`Handle.shutdown(cancellingInFlight: true)`).
    case shutdown
}
