// The state of a loop that only its own thread touches: jobs queued by
// tasks running on it and the requests they stage directly.

/// What only the loop thread touches: jobs to run and requests made by tasks
/// running on it.
final class LoopLocalState {
    // Loop-thread confined (see `LoopJobRouter`): no dynamic exclusivity
    // checks needed.
    @exclusivity(unchecked) var jobs = RingBuffer<LoopJob>(capacity: 256)
    @exclusivity(unchecked) var directRequests = RingBuffer<Request>(capacity: 64)
    /// Set once the loop is shutting down: direct requests fail with `.shutdown`.
    var isClosing = false
    /// Jobs run and requests submitted directly, for statistics.
    @exclusivity(unchecked) var jobsRun: UInt64 = 0
    @exclusivity(unchecked) var directSubmissions: UInt64 = 0
}
