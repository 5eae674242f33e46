// The bounded multi-producer, single-consumer queue between handles and the
// loop thread.
//
// Two kinds of message travel here, both counted by the Waker's sequence:
// - requests, at most `capacity` of them queued (the ring size);
// - cancellations (a task was cancelled), never bounded, since a cancel must
//   never wait behind the work it cancels.
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
// - once closed, nothing new gets in; what is already queued or parked is
//   still drained, so no admitted caller is forgotten.

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
        /// Closed, and nothing queued, parked or pending remains.
        var finished = false
    }

    private struct State {
        var requests: RingBuffer<Request>
        var parked = RingBuffer<Request>()
        var cancellations: [Request] = []
        var isClosed = false
    }

    let capacity: Int
    private let state: Locked<State>

    init(capacity: Int) {
        self.capacity = capacity
        state = Locked(State(requests: RingBuffer(capacity: capacity)))
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

    /// Queues a cancellation; `false` once closed (the loop then finds the
    /// request's cancel flag when it drains it).
    func enqueueCancellation(_ request: Request) -> Bool {
        state.withLock { state in
            if state.isClosed { return false }
            state.cancellations.append(request)
            return true
        }
    }

    /// Refuses new messages from now on.
    func close() {
        state.withLock { $0.isClosed = true }
    }

    var isClosed: Bool { state.withLock { $0.isClosed } }

    /// Takes at most `budget` messages: cancellations first, then at most
    /// `requestLimit` requests, appended in FIFO order.
    func drain(budget: Int, requestLimit: Int, requests: inout [Request], cancellations: inout [Request]) -> DrainResult {
        state.withLock { state in
            var result = DrainResult()
            var budget = budget
            if budget > 0 && !state.cancellations.isEmpty {
                let take = min(budget, state.cancellations.count)
                cancellations.append(contentsOf: state.cancellations.prefix(take))
                state.cancellations.removeFirst(take)
                budget -= take
                result.taken += take
            }
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
                && state.cancellations.isEmpty
            return result
        }
    }
}
