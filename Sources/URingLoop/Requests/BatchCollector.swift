// Gathers the outcomes of a batch's requests and hands them on once, when
// the last of them ends (to resume the caller, or to sync first).
//
// Invariants (why `@unchecked Sendable` is sound):
// - `finish` is set by the submitting task before it hands over any
//   request of the batch (through the channel's lock, or on the loop thread
//   itself), so every completion handler that may read it runs after the write;
// - each slot of `outcomes` is written once, by the handler of its own
//   request, before that handler's decrement of `remaining` (release); the
//   handler whose decrement reaches zero acquired every earlier one (an
//   atomic read-modify-write chain), so it reads all slots written, and it
//   alone calls `finish`. Handlers run on the loop thread, or on the
//   submitter's thread for a request the loop refused (shut down).
import Synchronization

final class BatchCollector<Value: Sendable>: @unchecked Sendable {
    private let outcomes: UnsafeMutableBufferPointer<Result<Value, any Error>>
    private let remaining: Atomic<Int>
    /// Called once, by the handler of the last request to end, with every
    /// outcome in order.
    var finish: (([Result<Value, any Error>]) -> Void)?

    /// For `count` requests (at least one).
    init(count: Int) {
        precondition(count > 0, "a batch collector waits for at least one request")
        outcomes = .allocate(capacity: count)
        remaining = Atomic(count)
    }

    deinit {
        // Reached only after the last handler ran, so every slot is set.
        outcomes.deinitialize()
        outcomes.deallocate()
    }

    /// Records the outcome of request `index`; the last one calls `finish`.
    func record(_ outcome: Result<Value, any Error>, at index: Int) {
        (outcomes.baseAddress! + index).initialize(to: outcome)
        guard remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        let finish = self.finish.take()!
        finish(Array(outcomes))
    }
}
