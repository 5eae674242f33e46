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

/// Waits while work advances, for chaos tests that stop a system in the
/// middle of its traffic: returns once `progress()` reaches `threshold`,
/// once `finished()` holds, once `stall` passes without `progress()`
/// changing after it first moved, or once `seconds` pass with no progress
/// at all (a hang: the caller's check that something was done then fails).
///
/// No short limit before the first progress: under the whole suite with
/// AddressSanitizer, the echo chaos test's clients and handlers, plain
/// tasks queued with every other test's jobs for the cooperative pool's
/// two threads, went over 10 s without a first echo (both threads busy,
/// every loop asleep waiting for them; the echoes came when the test
/// waited on), and a stop that early checked nothing.
public func untilProgress(
    reaches threshold: Int, seconds: Int = 300, stall: Duration = .seconds(10),
    every interval: Duration = .microseconds(200), progress: () -> Int, finished: () -> Bool = { false }
) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    var last = progress()
    // Progress counts from zero: anything already counted has moved.
    var movedAt: ContinuousClock.Instant? = last > 0 ? .now : nil
    while last < threshold && !finished() {
        let now = ContinuousClock.now
        if let movedAt, now - movedAt >= stall { return }
        if movedAt == nil && now >= deadline { return }
        try await Task.sleep(for: interval)
        let current = progress()
        if current != last {
            last = current
            movedAt = .now
        }
    }
}
