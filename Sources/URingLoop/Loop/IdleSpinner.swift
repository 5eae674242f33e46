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

    /// `minimum` is `LoopConfiguration.idleSpin` (zero: never spin); the
    /// budget may grow to ten times that, but past a millisecond only as far
    /// as the minimum itself (a long spin is the user's explicit choice).
    init(minimum: Duration) {
        self.minimum = minimum
        maximum = max(minimum, min(minimum * 10, .milliseconds(1)))
        budget = minimum
    }

    /// Yields the CPU until `workArrived()` or the budget has passed;
    /// returns whether work arrived (and adapts the budget either way).
    mutating func spin(until workArrived: () -> Bool) -> Bool {
        guard budget > .zero else { return false }
        let end = ContinuousClock.now + budget
        repeat {
            if workArrived() {
                grow(by: 4)
                return true
            }
            sched_yield()
        } while ContinuousClock.now < end
        if workArrived() {
            grow(by: 4)
            return true
        }
        budget = max(minimum, budget - budget / 8)
        return false
    }

    /// Reports how long the loop slept after a missed spin.
    mutating func woke(after slept: Duration) {
        if minimum > .zero && slept < maximum { grow(by: 2) }
    }

    private mutating func grow(by divisor: Int) {
        budget = min(maximum, budget + budget / divisor)
    }
}
