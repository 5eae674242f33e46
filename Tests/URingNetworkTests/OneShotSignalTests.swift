// OneShotSignal: every wait returns exactly once, whether the signal fires,
// the waiting task is cancelled (before or after it registered), or both
// race.
import Testing
@testable import URingNetwork
import URingTestSupport

@Suite struct OneShotSignalTests {
    @Test func waitsBeforeAndAfterTheFireAllReturn() async throws {
        let signal = OneShotSignal()
        let started = AsyncStream<Void>.makeStream()
        let waiters = (0..<16).map { _ in
            Task {
                started.continuation.yield()
                await signal.wait()
            }
        }
        var count = 0
        for await _ in started.stream {
            count += 1
            if count == waiters.count { break }
        }
        signal.fire()
        signal.fire()  // a second fire changes nothing
        try await bounded("waits after fire", seconds: 30) {
            for waiter in waiters { await waiter.value }
            await signal.wait()
            await OneShotSignal.wait(forAnyOf: [signal], atMost: .seconds(3600))
        }
    }

    @Test func cancellingAWaitEndsItWithoutAFire() async throws {
        let signal = OneShotSignal()
        let waiter = Task { await OneShotSignal.wait(forAnyOf: [signal], atMost: .seconds(3600)) }
        waiter.cancel()
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await signal.wait()
        }
        try await bounded("cancelled waits", seconds: 30) {
            await waiter.value
            await cancelledFirst.value
        }
        // The signal still works for the waits that come after.
        let later = Task { await signal.wait() }
        signal.fire()
        try await bounded("a wait after the cancelled ones", seconds: 30) { await later.value }
    }

    @Test func aWaitForAnyReturnsWhenOneFires() async throws {
        let (quiet, firing) = (OneShotSignal(), OneShotSignal())
        let waiter = Task { await OneShotSignal.wait(forAnyOf: [quiet, firing], atMost: .seconds(3600)) }
        firing.fire()
        try await bounded("a wait for either", seconds: 30) { await waiter.value }
    }

    @Test func aWaitWithATimeLimitReturnsWithoutAFire() async throws {
        let signal = OneShotSignal()
        try await bounded("a short wait", seconds: 30) { await OneShotSignal.wait(forAnyOf: [signal, OneShotSignal()], atMost: .milliseconds(1)) }
    }

    @Test func firesAndCancelsRacingEveryWaitReturnsOnce() async throws {
        // Rounds of waiters, each cancelled at a different point, with the
        // fire landing among the cancels: a lost waiter hangs its task (the
        // bound fails), a doubly resumed one traps the checked continuation.
        for round in 0..<50 {
            let signal = OneShotSignal()
            let waiters = (0..<32).map { index in
                Task {
                    if index % 2 == 0 { await signal.wait() } else { await OneShotSignal.wait(forAnyOf: [signal], atMost: .seconds(3600)) }
                }
            }
            for (index, waiter) in waiters.enumerated() where index % 3 != 0 {
                if index == round % waiters.count { signal.fire() }
                waiter.cancel()
                if index % 5 == 0 { await Task.yield() }
            }
            signal.fire()
            try await bounded("round \(round)", seconds: 30) {
                for waiter in waiters { await waiter.value }
            }
        }
    }
}
