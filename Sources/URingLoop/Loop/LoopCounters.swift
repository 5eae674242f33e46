// The loop's statistics, readable from any thread.
//
// The loop thread keeps plain counters while it works and stores them here
// once per iteration (relaxed atomics: each value is a monotonic snapshot,
// no ordering with other memory is implied), and reports the deltas to
// swift-metrics at the same point. So the hot path pays no atomic per
// request and no metrics call per request. The exceptions are
// `readsFromCache`, `immediateReceives` and `immediateSends`, counted by the
// callers' threads as they happen: those calls never reach the loop.
import Synchronization

final class LoopCounters: Sendable {
    private let pending = Atomic<UInt64>(0)
    private let completed = Atomic<UInt64>(0)
    private let wakeCompletions = Atomic<UInt64>(0)
    private let enterCalls = Atomic<UInt64>(0)
    private let timeouts = Atomic<UInt64>(0)
    private let deadlinesRearmed = Atomic<UInt64>(0)
    private let cancellations = Atomic<UInt64>(0)
    private let abandoned = Atomic<UInt64>(0)
    private let futexSleeps = Atomic<UInt64>(0)
    private let channelMessages = Atomic<UInt64>(0)
    private let jobsRun = Atomic<UInt64>(0)
    private let directSubmissions = Atomic<UInt64>(0)
    private let spinBackOffs = Atomic<UInt64>(0)
    private let pacedSubmissions = Atomic<UInt64>(0)
    private let readsFromCache = Atomic<UInt64>(0)
    private let immediateReceives = Atomic<UInt64>(0)
    private let immediateSends = Atomic<UInt64>(0)

    /// A read the page cache answered whole on its caller's thread.
    func countReadFromCache() {
        readsFromCache.wrappingAdd(1, ordering: .relaxed)
    }

    /// A receive the socket answered on its caller's thread.
    func countImmediateReceive() {
        immediateReceives.wrappingAdd(1, ordering: .relaxed)
    }

    /// A send the socket took whole on its caller's thread.
    func countImmediateSend() {
        immediateSends.wrappingAdd(1, ordering: .relaxed)
    }

    func store(_ statistics: LoopStatistics) {
        pending.store(statistics.pendingRequests, ordering: .relaxed)
        completed.store(statistics.requestsCompleted, ordering: .relaxed)
        wakeCompletions.store(statistics.wakeCompletions, ordering: .relaxed)
        enterCalls.store(statistics.enterCalls, ordering: .relaxed)
        timeouts.store(statistics.timeouts, ordering: .relaxed)
        deadlinesRearmed.store(statistics.deadlinesRearmed, ordering: .relaxed)
        cancellations.store(statistics.cancellations, ordering: .relaxed)
        abandoned.store(statistics.abandoned, ordering: .relaxed)
        futexSleeps.store(statistics.futexSleeps, ordering: .relaxed)
        channelMessages.store(statistics.channelMessages, ordering: .relaxed)
        jobsRun.store(statistics.jobsRun, ordering: .relaxed)
        directSubmissions.store(statistics.directSubmissions, ordering: .relaxed)
        spinBackOffs.store(statistics.spinBackOffs, ordering: .relaxed)
        pacedSubmissions.store(statistics.pacedSubmissions, ordering: .relaxed)
    }

    /// The counters, with the doorbell counts read from the Waker itself,
    /// where producers count them.
    func snapshot(waker: Waker) -> LoopStatistics {
        var statistics = LoopStatistics()
        statistics.pendingRequests = pending.load(ordering: .relaxed)
        statistics.requestsCompleted = completed.load(ordering: .relaxed)
        statistics.wakeCompletions = wakeCompletions.load(ordering: .relaxed)
        statistics.enterCalls = enterCalls.load(ordering: .relaxed)
        statistics.timeouts = timeouts.load(ordering: .relaxed)
        statistics.deadlinesRearmed = deadlinesRearmed.load(ordering: .relaxed)
        statistics.cancellations = cancellations.load(ordering: .relaxed)
        statistics.abandoned = abandoned.load(ordering: .relaxed)
        statistics.eventfdWrites = waker.ringCount
        statistics.futexWakes = waker.futexWakeCount
        statistics.futexSleeps = futexSleeps.load(ordering: .relaxed)
        statistics.channelMessages = channelMessages.load(ordering: .relaxed)
        statistics.jobsRun = jobsRun.load(ordering: .relaxed)
        statistics.directSubmissions = directSubmissions.load(ordering: .relaxed)
        statistics.spinBackOffs = spinBackOffs.load(ordering: .relaxed)
        statistics.pacedSubmissions = pacedSubmissions.load(ordering: .relaxed)
        statistics.readsFromCache = readsFromCache.load(ordering: .relaxed)
        statistics.immediateReceives = immediateReceives.load(ordering: .relaxed)
        statistics.immediateSends = immediateSends.load(ordering: .relaxed)
        return statistics
    }
}
