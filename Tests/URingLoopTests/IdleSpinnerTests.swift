// The idle spinner's budget adapts to how quickly work comes back, within
// its bounds.
import Testing
@testable import URingLoop

@Suite struct IdleSpinnerTests {
    @Test func hitsGrowMissesShrinkWithinBounds() {
        var spinner = IdleSpinner(minimum: .microseconds(20))
        #expect(spinner.maximum == .microseconds(200))
        // Work that is already there: a hit, and the budget grows...
        #expect(spinner.spin { true })
        #expect(spinner.budget == .microseconds(25))
        // ...but never past the maximum.
        for _ in 0..<50 { _ = spinner.spin { true } }
        #expect(spinner.budget == .microseconds(200))
        // Work that never comes: misses shrink it, never below the minimum.
        #expect(!spinner.spin { false })
        #expect(spinner.budget == .microseconds(175))
        for _ in 0..<50 { _ = spinner.spin { false } }
        #expect(spinner.budget == .microseconds(20))
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
}
