// The bounded multi-producer, single-consumer queue between handles and the
// loop thread.
//
// Three kinds of message travel here, all counted by the Waker's sequence:
// - requests, at most `capacity` of them queued (the loop's request capacity);
// - cancellations (a task was cancelled), never bounded, since a cancel must
//   never wait behind the work it cancels;
// - jobs for the loop's executor from other threads, never bounded (a job
//   that could not be queued would strand its task). One wake path for all.
//
// A producer that finds the request queue full does not block its thread and
// does not publish: its request is parked, and its task stays suspended on
// the request's continuation. When the loop drains requests it moves parked
// ones, in order, into the room it made, and publishes them on their
// producers' behalf (it is running, so that costs no eventfd write).
//
// Invariants (all under the mutex):
// - every queued message is published exactly once, after it was queued
//   (by its producer, or by the loop for promoted parked requests);
// - the loop drains at most as many messages as it has seen published
//   (`budget`), so its processed count never passes the submitted one;
// - once closed, no new request gets in; what is already queued or parked is
//   still drained, so no admitted caller is forgotten. Jobs and cancels are
//   taken until the loop `terminate`s; after that a job is refused and its
//   sender runs it elsewhere.

import Synchronization

final class SubmissionChannel: Sendable {
    enum EnqueueOutcome {
        /// Queued: the producer must now publish.
        case queued
        /// Parked until there is room; the loop publishes it later.
        case parked
        /// The channel is closed; the request was not taken.
        case closed
    }

    struct DrainResult {
        /// Messages taken (requests + cancellations), to add to processedSeq.
        var taken = 0
        /// Parked requests moved into the queue, which the loop must publish.
        var promoted = 0
        /// Closed, and no request is queued or parked.
        var finished = false
        /// Closed by a shutdown that cancels what is in flight.
        var cancelsInFlight = false
    }

    private struct State {
        var requests: RingBuffer<Request>
        var parked = RingBuffer<Request>()
        var cancellations: [Request] = []
        var jobs: [LoopJob] = []
        var isClosed = false
        var cancelsInFlight = false
        var isTerminated = false
    }

    let capacity: Int
    private let state: Locked<State>
    /// `state.isClosed`, readable without the lock, for callers that skip
    /// the channel when they can (an open or a read the kernel's caches
    /// answer) and must still refuse once the loop is shut down. Set under
    /// the lock, with it, and never cleared.
    private let closed = Atomic<Bool>(false)

    init(capacity: Int) {
        self.capacity = capacity
        state = Locked(State(requests: RingBuffer(capacity: min(capacity, 256))))  // grows on demand
    }

    /// Offers a request; see `EnqueueOutcome` for what the caller must do.
    func enqueue(_ request: Request) -> EnqueueOutcome {
        state.withLock { state in
            if state.isClosed { return .closed }
            if state.requests.count < capacity && state.parked.isEmpty {
                state.requests.append(request)
                return .queued
            }
            state.parked.append(request)
            return .parked
        }
    }

    /// Offers several requests at once, under one lock: each is queued
    /// while there is room, the rest parked behind them, in order. Returns
    /// how many were queued (the producer must publish that many), or nil
    /// if the channel is closed and took none.
    func enqueue(contentsOf batch: [Request]) -> Int? {
        state.withLock { state in
            if state.isClosed { return nil }
            var queued = 0
            for request in batch {
                if state.requests.count < capacity && state.parked.isEmpty {
                    state.requests.append(request)
                    queued += 1
                } else {
                    state.parked.append(request)
                }
            }
            return queued
        }
    }

    /// Queues a cancellation; `false` once closed (the loop then finds the
    /// request's cancel flag when it drains it).
    func enqueueCancellation(_ request: Request) -> Bool {
        state.withLock { state in
            if state.isTerminated { return false }
            state.cancellations.append(request)
            return true
        }
    }

    /// Queues a job for the loop's executor; `false` once the loop has
    /// terminated (the caller must run it elsewhere).
    func enqueueJob(_ job: LoopJob) -> Bool {
        state.withLock { state in
            if state.isTerminated { return false }
            state.jobs.append(job)
            return true
        }
    }

    /// Called by the loop as it exits: refuses further jobs and cancels, and
    /// returns the jobs still queued for the loop to hand elsewhere.
    func terminate() -> [LoopJob] {
        state.withLock { state in
            state.isTerminated = true
            state.isClosed = true
            closed.store(true, ordering: .relaxed)
            defer { state.jobs = [] }
            return state.jobs
        }
    }

    /// Refuses new requests from now on; with `cancellingInFlight`, also
    /// tells the loop to cancel what it holds.
    func close(cancellingInFlight: Bool = false) {
        state.withLock { state in
            state.isClosed = true
            closed.store(true, ordering: .relaxed)
            if cancellingInFlight { state.cancelsInFlight = true }
        }
    }

    /// Whether new requests are refused. A caller that happens after the
    /// close (a shutdown it awaited) sees `true`; one racing it may not.
    var isClosed: Bool { closed.load(ordering: .relaxed) }

    /// Moves up to `budget` elements from the front of `source` to `target`,
    /// lowering `budget`; returns how many moved.
    private static func move<Element>(from source: inout [Element], to target: inout [Element], budget: inout Int) -> Int {
        let count = min(budget, source.count)
        guard count > 0 else { return 0 }
        if count == source.count {
            target.append(contentsOf: source)
            source.removeAll(keepingCapacity: true)
        } else {
            target.append(contentsOf: source.prefix(count))
            source.removeFirst(count)
        }
        budget -= count
        return count
    }

    /// Takes at most `budget` messages: cancellations first, then jobs, then
    /// at most `requestLimit` requests, each in FIFO order.
    func drain(
        budget: Int, requestLimit: Int, requests: inout [Request], cancellations: inout [Request], jobs: inout [LoopJob]
    ) -> DrainResult {
        state.withLock { state in
            var result = DrainResult()
            var budget = budget
            result.taken += Self.move(from: &state.cancellations, to: &cancellations, budget: &budget)
            result.taken += Self.move(from: &state.jobs, to: &jobs, budget: &budget)
            var limit = min(budget, requestLimit)
            while limit > 0, let request = state.requests.popFirst() {
                requests.append(request)
                limit -= 1
                result.taken += 1
            }
            while state.requests.count < capacity, let request = state.parked.popFirst() {
                state.requests.append(request)
                result.promoted += 1
            }
            result.finished = state.isClosed && state.requests.isEmpty && state.parked.isEmpty
            result.cancelsInFlight = state.cancelsInFlight
            return result
        }
    }
}
