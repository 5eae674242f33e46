// The idle spinner's budget adapts to how quickly work comes back, within
// its bounds, and it stops spinning for a while when a yield shows that
// another thread holds the CPU. Time is a fake clock that only the fake
// yields move, so no figure depends on the machine's load.
import Testing
@testable import URingLoop

@Suite struct IdleSpinnerTests {
    /// A clock that moves only when told to.
    final class FakeTime {
        var now = ContinuousClock.now
        /// A yield that gives the CPU away for `duration`.
        func yield(_ duration: Duration) -> () -> Void { { self.now += duration } }
        var clock: () -> ContinuousClock.Instant { { self.now } }
    }

    /// A spin on `time` whose yields each take `yieldTaking`.
    private func spin(
        _ spinner: inout IdleSpinner, _ time: FakeTime, yieldTaking: Duration = .microseconds(1),
        until workArrived: () -> Bool
    ) -> Bool {
        spinner.spin(until: workArrived, yield: time.yield(yieldTaking), clock: time.clock)
    }

    @Test func hitsGrowMissesShrinkWithinBounds() {
        let time = FakeTime()
        var spinner = IdleSpinner(minimum: .microseconds(20))
        #expect(spinner.maximum == .microseconds(200))
        // Work that is already there: a hit, and the budget grows...
        #expect(spin(&spinner, time) { true })
        #expect(spinner.budget == .microseconds(25))
        // ...but never past the maximum.
        for _ in 0..<50 { _ = spin(&spinner, time) { true } }
        #expect(spinner.budget == .microseconds(200))
        // Work that never comes: misses shrink it, never below the minimum.
        let start = time.now
        #expect(!spin(&spinner, time) { false })
        #expect(time.now - start >= .microseconds(200), "a miss spins the whole budget")
        #expect(spinner.budget == .microseconds(175))
        for _ in 0..<50 { _ = spin(&spinner, time) { false } }
        #expect(spinner.budget == .microseconds(20))
        #expect(spinner.backOffs == 0)
    }

    @Test func quickWakesGrowSlowOnesDoNot() {
        var spinner = IdleSpinner(minimum: .microseconds(20))
        spinner.woke(after: .microseconds(60))
        #expect(spinner.budget == .microseconds(30))
        spinner.woke(after: .milliseconds(5))
        #expect(spinner.budget == .microseconds(30))
    }

    @Test func growthStopsAtAMillisecondUnlessTheMinimumIsLonger() {
        #expect(IdleSpinner(minimum: .microseconds(500)).maximum == .milliseconds(1))
        #expect(IdleSpinner(minimum: .milliseconds(5)).maximum == .milliseconds(5))
    }

    @Test func zeroNeverSpins() {
        var spinner = IdleSpinner(minimum: .zero)
        var asked = 0
        #expect(!spinner.spin { asked += 1; return true })
        #expect(asked == 0)
        spinner.woke(after: .microseconds(1))
        #expect(spinner.budget == .zero)
    }

    @Test func aLateYieldEndsTheSpinAndBacksOff() {
        let time = FakeTime()
        var spinner = IdleSpinner(minimum: .microseconds(20))
        #expect(spinner.contentionThreshold == .milliseconds(1))
        // A yield that comes back after 3 ms (a busy thread's slice): the
        // spin ends there, and the loop will sleep for the next 10 ms.
        let first = spin(&spinner, time, yieldTaking: .milliseconds(3)) { false }
        #expect(!first)
        #expect(spinner.backOffs == 1)
        #expect(spinner.backOffUntil == time.now + .milliseconds(10))
        #expect(spinner.backOff == .milliseconds(20), "the next window doubles")
        #expect(spinner.budget == .microseconds(20), "contention is not a miss")
        // During the window the loop sleeps at once: no yield, no check.
        time.now += .milliseconds(9)
        var yields = 0
        var checks = 0
        let during = spinner.spin(until: { checks += 1; return true }, yield: { yields += 1 }, clock: time.clock)
        #expect(!during)
        #expect(yields == 0 && checks == 0)
        // A quick wake then does not grow the budget: no spin was missed.
        spinner.woke(after: .microseconds(60))
        #expect(spinner.budget == .microseconds(20))
        // After it, a probe that meets contention again backs off longer,
        // and work that came while the CPU was away still counts.
        time.now += .milliseconds(1)
        var arrived = false
        let probe = spinner.spin(
            until: { arrived }, yield: { time.now += .milliseconds(3); arrived = true }, clock: time.clock)
        #expect(probe)
        #expect(spinner.backOffs == 2)
        #expect(spinner.backOffUntil == time.now + .milliseconds(20))
        #expect(spinner.backOff == .milliseconds(40))
        #expect(spinner.budget == .microseconds(20))
        // A probe whose yields come back quickly ends the back-off.
        time.now += .milliseconds(20)
        #expect(!spin(&spinner, time) { false })
        #expect(spinner.backOffUntil == nil)
        #expect(spinner.backOff == IdleSpinner.firstBackOff)
        #expect(spinner.backOffs == 2)
        // And the spinner spins again as before.
        #expect(spin(&spinner, time) { true })
        #expect(spinner.budget == .microseconds(25))
    }

    @Test func backOffWindowsStopGrowingAtASecond() {
        let time = FakeTime()
        var spinner = IdleSpinner(minimum: .microseconds(20))
        for _ in 0..<12 {
            _ = spin(&spinner, time, yieldTaking: .milliseconds(2)) { false }
            time.now = spinner.backOffUntil!  // the next spin is the window's probe
        }
        #expect(spinner.backOffs == 12)
        #expect(spinner.backOff == IdleSpinner.longestBackOff)
    }

    @Test func aYieldJustUnderTheThresholdIsNotContention() {
        let time = FakeTime()
        var spinner = IdleSpinner(minimum: .microseconds(20))
        #expect(!spin(&spinner, time, yieldTaking: .milliseconds(1)) { false })
        #expect(spinner.backOffs == 0)
        #expect(spinner.backOffUntil == nil)
    }

    @Test func aLongConfiguredSpinRaisesTheThreshold() {
        // A user who asked for 5 ms spins has yields that long in mind.
        #expect(IdleSpinner(minimum: .milliseconds(5)).contentionThreshold == .milliseconds(5))
    }
}
