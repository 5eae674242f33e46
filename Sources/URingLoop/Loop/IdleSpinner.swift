// How long the loop keeps its CPU, waiting for callers it just resumed,
// before it sleeps.
//
// Sleeping costs the loop a wake (tens of microseconds across CPUs here) and
// the next producer an eventfd write. Spinning costs CPU that, on a small
// machine, the callers themselves may need. The right length depends on
// how quickly callers come back, which the loop learns:
// - a hit (work showed up while spinning) grows the budget by a quarter, so
//   a workload whose callers return just after the budget catches up;
// - a miss (the loop slept) shrinks it by an eighth, down to the configured
//   minimum, so an idle or slow-paced loop barely spins;
// - a quick wake (the loop slept, but work woke it within the maximum
//   budget) grows it by half: a little longer would have avoided the sleep.
//
// Spinning pays only while yielding is cheap. When a CPU-bound thread shares
// the loop's CPU, the fair scheduler puts a yielding thread behind it for
// the rest of its slice (milliseconds), and a loop that yields after every
// pass then loses a slice per pass: echo fell to a quarter of its
// throughput with two busy processes beside it. A sleeping loop does not
// pay that: woken by its eventfd or a CQE, it is placed ahead of the hog.
// So a yield that returns later than the contention threshold ends the spin
// and stops spinning for a back-off window (10 ms, doubling while the
// contention lasts, up to a second); a spin whose yields all come back
// quickly ends the back-off.
// Loop-thread only.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct IdleSpinner {
    /// The current budget, between `minimum` and `maximum`.
    private(set) var budget: Duration
    let minimum: Duration
    let maximum: Duration
    /// A yield that takes longer than this means another thread held the
    /// CPU for longer than any spin is worth: a millisecond, or the maximum
    /// budget if that is longer.
    let contentionThreshold: Duration
    /// Until when spinning is off after contention was seen; nil while
    /// yields come back quickly.
    private(set) var backOffUntil: ContinuousClock.Instant?
    /// The next back-off window: doubles with each contended spin, back to
    /// `firstBackOff` after a spin without contention.
    private(set) var backOff: Duration = IdleSpinner.firstBackOff
    /// Spins ended by contention so far (`LoopStatistics.spinBackOffs`).
    private(set) var backOffs: UInt64 = 0

    static let firstBackOff: Duration = .milliseconds(10)
    static let longestBackOff: Duration = .seconds(1)

    /// `minimum` is `LoopConfiguration.idleSpin` (zero: never spin); the
    /// budget may grow to ten times that, but past a millisecond only as far
    /// as the minimum itself (a long spin is the user's explicit choice).
    init(minimum: Duration) {
        self.minimum = minimum
        maximum = max(minimum, min(minimum * 10, .milliseconds(1)))
        budget = minimum
        contentionThreshold = max(maximum, .milliseconds(1))
    }

    /// Yields the CPU until `workArrived()` or the budget has passed;
    /// returns whether work arrived, and adapts the budget either way.
    /// Returns false at once during a back-off, and ends early when a yield
    /// shows contention. (`yield` and `clock` are `sched_yield` and the
    /// continuous clock but in tests.)
    mutating func spin(
        until workArrived: () -> Bool,
        yield: () -> Void = { sched_yield() },
        clock: () -> ContinuousClock.Instant = { .now }
    ) -> Bool {
        guard budget > .zero else { return false }
        var now = clock()
        if let backOffUntil {
            guard now >= backOffUntil else { return false }
            self.backOffUntil = nil  // a probe: this spin decides whether to go on backing off
        }
        let end = now + budget
        repeat {
            if workArrived() {
                grow(by: 4)
                backOff = IdleSpinner.firstBackOff
                return true
            }
            yield()
            let before = now
            now = clock()
            if now - before > contentionThreshold {
                // Someone else held this CPU: sleeping serves the loop better
                // until the back-off passes. Whatever arrived meanwhile still
                // counts, but the budget stays as it is.
                backOffUntil = now + backOff
                backOffs += 1
                backOff = min(backOff * 2, IdleSpinner.longestBackOff)
                return workArrived()
            }
        } while now < end
        backOff = IdleSpinner.firstBackOff
        if workArrived() {
            grow(by: 4)
            return true
        }
        budget = max(minimum, budget - budget / 8)
        return false
    }

    /// Reports how long the loop slept after a missed spin. (During a
    /// back-off the loop sleeps without spinning, and a quick wake says
    /// nothing about the budget.)
    mutating func woke(after slept: Duration) {
        if minimum > .zero && slept < maximum && backOffUntil == nil { grow(by: 2) }
    }

    private mutating func grow(by divisor: Int) {
        budget = min(maximum, budget + budget / divisor)
    }
}
