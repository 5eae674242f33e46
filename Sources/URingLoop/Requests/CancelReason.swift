// Why the loop ends a request before the kernel does; each reason maps to
// the error its caller gets (`.timedOut`, `CancellationError`, `.shutdown`,
// `.abandoned`).

/// Why the loop ends a request before the kernel does.
enum CancelReason {
    /// The request's deadline passed.
    case timeout
    /// The caller's task was cancelled.
    case task
    /// The loop is shutting down and cancels what still waits
    /// (`Handle.shutdown(cancellingInFlight: true)`).
    case shutdown
    /// The shutdown's timeout passed with the request still held: the loop
    /// answers its caller and stops waiting for it (see
    /// `LoopConfiguration.shutdownTimeout`).
    case abandoned
}
