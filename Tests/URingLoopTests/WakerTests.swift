// The seed's four tests of the wake protocol, the doorbell counting the
// loop's statistics rely on, and the futex doorbell: each intent rings its
// own, and a FUTEX_WAIT never sleeps through a publish or a close that came
// after (or, for a close, before) its arm.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct WakerTests {
    @Test func publishArmDisarmAndSubmitted() throws {
        // The packed state keeps the sequence apart from sleep intent.
        let waker = try Waker()
        #expect(waker.submitted() == 0)

        // Without sleep intent, publish only advances the sequence.
        waker.publish()
        #expect(waker.submitted() == 1)
        #expect(waker.ringCount == 0)

        // Armed, a publish rings once; acknowledge drains it.
        #expect(waker.arm().sequence == 1)
        waker.publish()
        #expect(waker.submitted() == 2)
        #expect(waker.ringCount == 1)

        // Acknowledge and disarm gate wakes; they never touch the sequence.
        waker.acknowledge()
        #expect(waker.submitted() == 2)
        waker.disarm()
        #expect(waker.submitted() == 2)

        // Re-arming while idle returns the same snapshot.
        #expect(waker.arm().sequence == 2)
        waker.disarm()
        waker.publish()
        #expect(waker.ringCount == 1)
    }

    @Test func ringAndAcknowledgeOnEmptyCounterKeepSequence() throws {
        let waker = try Waker()
        let before = waker.submitted()
        // One full wake cycle, then a drain of an empty counter (EAGAIN path).
        waker.ring()
        waker.acknowledge()
        waker.acknowledge()
        #expect(waker.submitted() == before)
        var value: UInt64 = 0
        #expect(read(waker.descriptor, &value, 8) == -1)
        #expect(errno == EAGAIN)
    }

    @Test func reinstallPushesExactlyOneWakePoll() throws {
        let waker = try Waker()
        let ring = try Ring(entries: 8)
        let before = ring.submissionQueue.count
        #expect(waker.reinstall(into: &ring.submissionQueue))
        #expect(ring.submissionQueue.count == before + 1)
        // The poll is live: a ring produces a wake CQE that promises more.
        waker.ring()
        let result = try ring.submitAndWait(want: 1, timeout: .seconds(5))
        #expect(result != .timedOut)
        let cqe = try #require(ring.completionQueue.peek())
        #expect(cqe.userData == Waker.wakeUserData)
        #expect(cqe.hasMore)
        #expect(cqe.result & Int32(POLLIN) != 0)
    }

    @Test func ringAndAcknowledgeErrorBranches() throws {
        let waker = try Waker()
        let before = waker.submitted()

        // Saturate the counter near its maximum: ring takes the EAGAIN path,
        // acknowledge drains the queued value.
        var nearMaximum: UInt64 = .max - 1
        #expect(write(waker.descriptor, &nearMaximum, 8) == 8)
        waker.ring()
        #expect(waker.ringCount == 0)
        waker.acknowledge()

        // Then make the descriptor dead: an O_PATH descriptor dup2'ed over it
        // fails every read and write with EBADF, exactly like a closed one,
        // but its number is never free for a concurrent test to reuse (which
        // a real close would allow). Both calls take their logging branch.
        let dead = open("/", CURING_O_PATH | O_CLOEXEC)
        try #require(dead >= 0)
        try #require(dup2(dead, waker.descriptor) == waker.descriptor)
        close(dead)
        waker.ring()
        waker.acknowledge()
        #expect(waker.ringCount == 0)

        // Neither error path perturbs sequence tracking.
        #expect(waker.submitted() == before)
        waker.publish()
        #expect(waker.submitted() == before + 1)
    }

    @Test func sequenceWrapsInSixtyOneBits() throws {
        let waker = try Waker()
        // Publishing 2^61 - 1 then one more wraps the 61-bit domain to 0,
        // leaving the flags below it alone.
        waker.publish(count: Waker.sequenceMask)
        #expect(waker.submitted() == Waker.sequenceMask)
        #expect(!waker.isArmed)
        waker.publish()
        #expect(waker.submitted() == 0)
        #expect(waker.arm(.futex).sequence == 0)
        waker.disarm()
        #expect(!waker.isArmed)
    }

    @Test func eachIntentRingsItsOwnDoorbell() throws {
        let waker = try Waker()
        // Armed for the futex, a publish calls FUTEX_WAKE and leaves the
        // eventfd alone; armed for the ring, the other way round.
        #expect(waker.arm(.futex).sequence == 0)
        waker.publish()
        #expect(waker.futexWakeCount == 1)
        #expect(waker.ringCount == 0)
        waker.disarm()
        #expect(waker.arm(.ring).sequence == 1)
        waker.publish()
        #expect(waker.futexWakeCount == 1)
        #expect(waker.ringCount == 1)
        waker.disarm()
        // Disarmed, neither.
        waker.publish(count: 3)
        #expect(waker.futexWakeCount == 1)
        #expect(waker.ringCount == 1)
        #expect(waker.submitted() == 5)
    }

    @Test func futexSleepEndsAtOnceWhenTheWordMovedAfterTheArm() throws {
        // The lost-wake window: a publish (or a close) lands between the arm
        // and FUTEX_WAIT, its FUTEX_WAKE finding no one asleep. The wait
        // must then not block: the word differs from what the arm left.
        // Each case gets a 20 s limit; a wait that slept would use it all.
        for moveWord in [{ (waker: Waker) in waker.publish() }, { (waker: Waker) in waker.wakeForClose() }] {
            let waker = try Waker()
            let armed = waker.arm(.futex)
            moveWord(waker)
            let started = ContinuousClock.now
            waker.sleepOnFutex(armed, timeout: .seconds(20))
            #expect(ContinuousClock.now - started < .seconds(10))
            waker.disarm()
        }
        // A close before the arm: its FUTEX_WAKE came and went, so the
        // wait must not block either, though the word is what the arm left.
        let closed = try Waker()
        closed.wakeForClose()
        let armed = closed.arm(.futex)
        let started = ContinuousClock.now
        closed.sleepOnFutex(armed, timeout: .seconds(20))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func futexSleepLastsUntilItsTimeoutWithNoPublish() throws {
        // The same wait with the word unchanged does sleep, for its timeout.
        let waker = try Waker()
        let armed = waker.arm(.futex)
        let started = ContinuousClock.now
        waker.sleepOnFutex(armed, timeout: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(45))
        waker.disarm()
    }

    @Test func aPublishWakesAThreadAsleepOnTheFutex() async throws {
        // A thread blocked in FUTEX_WAIT (no timeout) is woken by the
        // publish that sees its intent; the test fails by timing out.
        let waker = try Waker()
        let woke = Latch()
        let armed = waker.arm(.futex)
        try LoopThread.spawn(name: "futex-sleeper") {
            waker.sleepOnFutex(armed, timeout: nil)
            woke.open()
        }
        // Give it time to block (if it has not yet, the word check ends
        // the wait just the same).
        try await Task.sleep(for: .milliseconds(20))
        waker.publish()
        try await within(20, "the sleeper to wake") { await woke.wait() }
        #expect(waker.futexWakeCount == 1)
    }
}
