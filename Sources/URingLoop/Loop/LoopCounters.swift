// The loop's statistics, readable from any thread.
//
// The loop thread keeps plain counters while it works and stores them here
// once per iteration (relaxed atomics: each value is a monotonic snapshot,
// no ordering with other memory is implied), and reports the deltas to
// swift-metrics at the same point. So the hot path pays no atomic per
// request and no metrics call per request. The one exception is
// `readsFromCache`, counted by the callers' threads as they happen: those
// reads never reach the loop.
import Metrics
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
    private let eventfdWrites = Atomic<UInt64>(0)
    private let channelMessages = Atomic<UInt64>(0)
    private let jobsRun = Atomic<UInt64>(0)
    private let directSubmissions = Atomic<UInt64>(0)
    private let spinBackOffs = Atomic<UInt64>(0)
    private let pacedSubmissions = Atomic<UInt64>(0)
    private let readsFromCache = Atomic<UInt64>(0)

    /// A read the page cache answered whole on its caller's thread.
    func countReadFromCache() {
        readsFromCache.wrappingAdd(1, ordering: .relaxed)
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
        eventfdWrites.store(statistics.eventfdWrites, ordering: .relaxed)
        channelMessages.store(statistics.channelMessages, ordering: .relaxed)
        jobsRun.store(statistics.jobsRun, ordering: .relaxed)
        directSubmissions.store(statistics.directSubmissions, ordering: .relaxed)
        spinBackOffs.store(statistics.spinBackOffs, ordering: .relaxed)
        pacedSubmissions.store(statistics.pacedSubmissions, ordering: .relaxed)
    }

    func snapshot(eventfdWrites current: UInt64) -> LoopStatistics {
        var statistics = LoopStatistics()
        statistics.pendingRequests = pending.load(ordering: .relaxed)
        statistics.requestsCompleted = completed.load(ordering: .relaxed)
        statistics.wakeCompletions = wakeCompletions.load(ordering: .relaxed)
        statistics.enterCalls = enterCalls.load(ordering: .relaxed)
        statistics.timeouts = timeouts.load(ordering: .relaxed)
        statistics.deadlinesRearmed = deadlinesRearmed.load(ordering: .relaxed)
        statistics.cancellations = cancellations.load(ordering: .relaxed)
        statistics.abandoned = abandoned.load(ordering: .relaxed)
        statistics.eventfdWrites = current
        statistics.channelMessages = channelMessages.load(ordering: .relaxed)
        statistics.jobsRun = jobsRun.load(ordering: .relaxed)
        statistics.directSubmissions = directSubmissions.load(ordering: .relaxed)
        statistics.spinBackOffs = spinBackOffs.load(ordering: .relaxed)
        statistics.pacedSubmissions = pacedSubmissions.load(ordering: .relaxed)
        statistics.readsFromCache = readsFromCache.load(ordering: .relaxed)
        return statistics
    }
}

/// swift-metrics instruments of one loop, fed with deltas.
struct LoopMetrics {
    private let pending: Gauge
    private let completed: Counter
    private let eventfdWrites: Counter
    private let wakeCompletions: Counter
    private let enterCalls: Counter
    private let timeouts: Counter
    private let cancellations: Counter
    private var reported = LoopStatistics()

    init(name: String) {
        let dimensions = [("loop", name)]
        pending = Gauge(label: "uring_loop_pending_requests", dimensions: dimensions)
        completed = Counter(label: "uring_loop_requests_completed", dimensions: dimensions)
        eventfdWrites = Counter(label: "uring_loop_eventfd_writes", dimensions: dimensions)
        wakeCompletions = Counter(label: "uring_loop_wake_cqes", dimensions: dimensions)
        enterCalls = Counter(label: "uring_loop_enter_calls", dimensions: dimensions)
        timeouts = Counter(label: "uring_loop_timeouts", dimensions: dimensions)
        cancellations = Counter(label: "uring_loop_cancellations", dimensions: dimensions)
    }

    mutating func report(_ current: LoopStatistics) {
        if current.pendingRequests != reported.pendingRequests { pending.record(Int64(current.pendingRequests)) }
        Self.add(completed, current.requestsCompleted, reported.requestsCompleted)
        Self.add(eventfdWrites, current.eventfdWrites, reported.eventfdWrites)
        Self.add(wakeCompletions, current.wakeCompletions, reported.wakeCompletions)
        Self.add(enterCalls, current.enterCalls, reported.enterCalls)
        Self.add(timeouts, current.timeouts, reported.timeouts)
        Self.add(cancellations, current.cancellations, reported.cancellations)
        reported = current
    }

    private static func add(_ counter: Counter, _ now: UInt64, _ before: UInt64) {
        if now > before { counter.increment(by: Int64(now - before)) }
    }
}
