// Waiting for a condition another thread or process brings about, when
// there is nothing to await: poll it, sleeping in between, within a bound.

/// Polls `condition` every `interval` until it holds; throws
/// `BoundExceeded` once `seconds` have passed without it.
///
/// Sleeping, not yielding: a task that yields in a loop keeps a pool thread
/// busy, and under ThreadSanitizer, with every network test running at
/// once, two such pollers starved the very writers they waited for.
public func until(
    _ what: String, seconds: Int = 60, every interval: Duration = .milliseconds(1), _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw BoundExceeded(what: what, seconds: seconds) }
        try await Task.sleep(for: interval)
    }
}
