// The swift-metrics side of a loop's statistics: fed once per loop
// iteration with the deltas since the last, never per request.
import Metrics

/// swift-metrics instruments of one loop, fed with deltas.
struct LoopMetrics {
    private let pending: Gauge
    private let completed: Counter
    private let eventfdWrites: Counter
    private let futexWakes: Counter
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
        futexWakes = Counter(label: "uring_loop_futex_wakes", dimensions: dimensions)
        wakeCompletions = Counter(label: "uring_loop_wake_cqes", dimensions: dimensions)
        enterCalls = Counter(label: "uring_loop_enter_calls", dimensions: dimensions)
        timeouts = Counter(label: "uring_loop_timeouts", dimensions: dimensions)
        cancellations = Counter(label: "uring_loop_cancellations", dimensions: dimensions)
    }

    mutating func report(_ current: LoopStatistics) {
        if current.pendingRequests != reported.pendingRequests { pending.record(Int64(current.pendingRequests)) }
        Self.add(completed, current.requestsCompleted, reported.requestsCompleted)
        Self.add(eventfdWrites, current.eventfdWrites, reported.eventfdWrites)
        Self.add(futexWakes, current.futexWakes, reported.futexWakes)
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
