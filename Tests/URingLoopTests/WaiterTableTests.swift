// The waiter table and the timing wheel on their own, deterministically.
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

/// A request that records what happened to it, for table-level tests.
final class ProbeRequest: Request, @unchecked Sendable {
    var entries = 0
    var outcome: Result<Int32, any Error>?
    var needed: Int

    init(needed: Int = 1) {
        self.needed = needed
        super.init(operation: "probe", deadline: nil)
    }

    override func makeEntry() -> SubmissionEntry {
        entries += 1
        return .nop()
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 {
            outcome = .failure(IOError(operation, errno: result))
            return .finished
        }
        needed -= 1
        if needed > 0 { return .again }
        outcome = .success(result)
        return .finished
    }

    override func fail(_ error: any Error) {
        precondition(outcome == nil, "probe resumed twice")
        outcome = .failure(error)
    }
}

@Suite struct WaiterTableTests {
    @Test func idPacksIndexGenerationAndCancelTag() {
        let id = WaiterID(index: 7, generation: (1 << 31) - 1)
        #expect(id.index == 7)
        #expect(id.generation == (1 << 31) - 1)
        #expect(id.nextGeneration == 0)
        let (decoded, isCancel) = WaiterID.decode(id.cancelUserData)
        #expect(decoded == id)
        #expect(isCancel)
        #expect(!WaiterID.decode(id.userData).isCancel)
        #expect(id.cancelUserData != Waker.wakeUserData)
    }

    @Test func staleCancelCompletionAfterSlotReuseIsIgnored() throws {
        var table = WaiterTable(capacity: 1)
        let first = ProbeRequest()
        let firstID = table.insert(first, targetTick: nil)
        guard case .submit(let entry) = table.stage(firstID) else { Issue.record("not staged"); return }
        #expect(entry.userData == firstID.userData)
        // The operation wins the race with its cancel: it completes first.
        #expect(table.markCancelled(firstID, reason: .timeout).marked)
        guard case .finished = table.complete(userData: firstID.userData, result: 5) else { Issue.record("not finished"); return }
        #expect(table.isEmpty)

        // The slot is reused by a new request with a new generation...
        let second = ProbeRequest()
        let secondID = table.insert(second, targetTick: nil)
        #expect(secondID.index == firstID.index)
        #expect(secondID.generation != firstID.generation)
        guard case .submit = table.stage(secondID) else { Issue.record("not staged"); return }

        // ...and the old cancel's CQE, arriving now, touches nothing.
        guard case .ignored = table.complete(userData: firstID.cancelUserData, result: -ENOENT) else {
            Issue.record("stale cancel CQE was not ignored"); return
        }
        #expect(table.isInFlight(secondID))
        #expect(!table.contains(firstID))
        #expect(second.outcome == nil)
        // A cancel aimed at the old id cannot mark the new request either.
        #expect(!table.markCancelled(firstID, reason: .task).marked)
        guard case .finished = table.complete(userData: secondID.userData, result: 9) else { Issue.record("not finished"); return }
        #expect(try second.outcome?.get() == 9)
    }

    @Test func slotsGrowWithTheRequestsHeldAndFreedOnesAreReusedFirst() {
        // A network loop's capacity is a million: the table must not
        // allocate for it up front.
        var table = WaiterTable(capacity: 1 << 20)
        #expect(table.slots.isEmpty)
        let ids = (0..<3).map { _ in table.insert(ProbeRequest(), targetTick: nil) }
        #expect(table.slots.count == 3)
        #expect(ids.map(\.index) == [0, 1, 2])
        for id in ids {
            _ = table.stage(id)
            _ = table.complete(userData: id.userData, result: 1)
        }
        #expect(table.isEmpty)
        // The most recently freed slot comes back first, and no new one is
        // made while freed ones are left.
        let reused = (0..<3).map { _ in table.insert(ProbeRequest(), targetTick: nil) }
        #expect(reused.map(\.index) == [2, 1, 0])
        #expect(table.slots.count == 3)
        #expect(table.freeCount == (1 << 20) - 3)
        // The capacity still bounds it.
        var small = WaiterTable(capacity: 2)
        _ = small.insert(ProbeRequest(), targetTick: nil)
        #expect(!small.isFull)
        _ = small.insert(ProbeRequest(), targetTick: nil)
        #expect(small.isFull && small.freeCount == 0)
    }

    @Test func cancelledWhileIdleEndsAtStaging() {
        var table = WaiterTable(capacity: 2)
        let request = ProbeRequest(needed: 2)
        let id = table.insert(request, targetTick: 42)
        guard case .submit = table.stage(id) else { Issue.record("not staged"); return }
        // A short transfer: the request wants another SQE and sits idle.
        guard case .again(let again) = table.complete(userData: id.userData, result: 1) else { Issue.record("no again"); return }
        #expect(again == id)
        let (marked, tick) = table.markCancelled(id, reason: .timeout)
        #expect(marked)
        #expect(tick == 42)
        guard case .ended = table.stage(id) else { Issue.record("cancelled request was staged"); return }
        #expect(table.isEmpty)
        #expect(throws: IOError("probe", .timedOut)) { try request.outcome?.get() }
        #expect(request.entries == 1)
    }

    @Test func cancelledOperationThatStillSucceedsDeliversItsResult() throws {
        var table = WaiterTable(capacity: 1)
        let request = ProbeRequest()
        let id = table.insert(request, targetTick: nil)
        _ = table.stage(id)
        _ = table.markCancelled(id, reason: .task)
        guard case .finished = table.complete(userData: id.userData, result: 3) else { Issue.record("not finished"); return }
        #expect(try request.outcome?.get() == 3)
    }

    @Test func wheelFiresAtOrAfterDeadlineAndClampsToHorizon() {
        let origin = ContinuousClock.now
        var wheel = TimingWheel(tick: .milliseconds(10), horizon: .milliseconds(100), origin: origin)
        #expect(wheel.slotCount == 16)
        let id = WaiterID(index: 1, generation: 0)
        let tick = wheel.targetTick(for: origin + .milliseconds(25))!
        #expect(tick == 3)
        wheel.schedule(id, at: tick)
        var expired: [TimingWheel.Entry] = []
        wheel.advance(to: origin + .milliseconds(29), into: &expired)
        #expect(expired.isEmpty)
        #expect(wheel.nextDeadline() == .milliseconds(1))
        wheel.advance(to: origin + .milliseconds(30), into: &expired)
        #expect(expired == [TimingWheel.Entry(id: id, tick: 3)])
        wheel.remove(tick: 3)
        #expect(wheel.nextDeadline() == nil)
        // Far deadlines are clamped to the horizon; past ones are due now.
        #expect(wheel.targetTick(for: origin + .seconds(3600)) == wheel.currentTick + wheel.horizonTicks)
        #expect(wheel.targetTick(for: origin) == nil)
    }

    @Test func wheelDropsStaleEntriesAndWrapsAround() {
        let origin = ContinuousClock.now
        var wheel = TimingWheel(tick: .milliseconds(1), horizon: .milliseconds(8), origin: origin)
        var expired: [TimingWheel.Entry] = []
        // Schedule and remove (request finished early), many laps over.
        for lap in 0..<40 {
            let now = origin + .milliseconds(lap * 5)
            wheel.advance(to: now, into: &expired)
            let tick = wheel.targetTick(for: now + .milliseconds(7))!
            wheel.schedule(WaiterID(index: UInt32(lap), generation: 0), at: tick)
            if lap % 2 == 0 { wheel.remove(tick: tick) }
        }
        wheel.advance(to: origin + .seconds(1), into: &expired)
        // Every entry comes out exactly once; the caller tells live from stale.
        #expect(expired.count == 40)
        #expect(Set(expired.map(\.id.index)).count == 40)
        #expect(wheel.storedCount == 0)
        #expect(wheel.activeCount == 20)
    }
}
