// The bookkeeping of one Sink: who holds it, what it has queued, who waits.
//
// Pure state, always used under the sink's mutex; it decides, and the sink
// acts on the decision (submits a batch, resumes waiters) after unlocking,
// so no continuation is resumed and no request submitted under the lock.
//
// Invariants:
// - `queued` is non-empty only while a batch is in flight (`inFlightBytes`
//   > 0; empty buffers are never queued): the batch's completion submits
//   the queue as the next batch, so queued bytes never strand, and at most
//   one batch per sink is in the kernel (its bytes can neither reorder nor
//   interleave with another send's).
// - a waiter is removed from `waiters` by exactly one of: the drain it waits
//   for, a failure, its task's cancellation; whoever removes it resumes it.
// - `finish` is admitted only with nothing unsent, and nothing is admitted
//   after it (a flush then has nothing to wait for).
// - after a failure (`phase == .failed`) nothing is queued or in flight from
//   this sink's point of view, and every later operation is refused.
import URing
import URingLoop

struct SinkState {
    enum Phase {
        /// Free for a `send`, and for writes.
        case idle
        /// A `send` holds the sink.
        case sending
        /// A send or a batch of writes failed part-way.
        case failed
        /// `finish` shut the sending direction.
        case finished
    }

    /// A task suspended until `unsentBytes <= threshold`.
    struct Waiter {
        let id: UInt64
        let threshold: Int
        let continuation: UnsafeContinuation<Void, any Error>
    }

    enum SendAdmission {
        /// The caller holds the sink (for one send, or finishing it).
        case acquired
        /// Writes are still unsent: flush them first, then try again.
        case flushFirst
    }

    enum WriteAdmission {
        /// Queued behind the batch in flight.
        case queued
        /// Nothing was in flight: the caller submits this batch.
        case submit([IOBuffer])
        /// `unsentBytes` is at the limit: wait for room, then offer again.
        case full
    }

    /// What the sink does after a batch completed.
    struct BatchOutcome {
        /// The next batch to submit (what was queued meanwhile).
        var next: [IOBuffer]?
        /// Waiters to resume, with `failure` if there is one.
        var resumed: [Waiter] = []
        var failure: (any Error)?
    }

    private var phase = Phase.idle
    /// A failure of a write batch that no caller has been told of yet; the
    /// next operation throws it (once), later ones the generic refusal.
    private var unreportedFailure: (any Error)?
    private var queued: [IOBuffer] = []
    private var queuedBytes = 0
    /// Bytes of the batch in the kernel; 0 when none is.
    private var inFlightBytes = 0
    /// Written and not yet taken by the kernel.
    var unsentBytes: Int { inFlightBytes + queuedBytes }
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0

    // MARK: - Sends

    /// Takes the sink for one send (`holder` is `.sending`) or, for good,
    /// for `finish` (`.finished`); `.flushFirst` while writes are unsent.
    mutating func admit(_ holder: Phase, peer: SocketAddress) throws -> SendAdmission {
        try refuseUnlessOpen(peer: peer)
        guard phase == .idle else { throw Self.busy(peer: peer) }
        if unsentBytes > 0 { return .flushFirst }
        phase = holder
        return .acquired
    }

    mutating func sendSucceeded() {
        phase = .idle
    }

    mutating func sendFailed() {
        phase = .failed
    }

    // MARK: - Writes

    /// Takes `buffer` if fewer than `limit` bytes are unsent (so one buffer
    /// larger than the limit still goes, alone).
    mutating func admitWrite(_ buffer: IOBuffer, limit: Int, peer: SocketAddress) throws -> WriteAdmission {
        try refuseUnlessOpen(peer: peer)
        guard phase == .idle else { throw Self.busy(peer: peer) }
        guard unsentBytes < limit else { return .full }
        if inFlightBytes > 0 {
            queued.append(buffer)
            queuedBytes += buffer.count
            return .queued
        }
        inFlightBytes = buffer.count
        return .submit([buffer])
    }

    /// Accounts for the batch in flight, which just completed.
    mutating func batchFinished(failure: (any Error)?) -> BatchOutcome {
        var outcome = BatchOutcome()
        if let failure {
            phase = .failed
            inFlightBytes = 0
            queued.removeAll()
            queuedBytes = 0
            outcome.resumed = waiters
            waiters.removeAll()
            outcome.failure = failure
            // Nobody waited to hear it: keep it for the next caller.
            if outcome.resumed.isEmpty { unreportedFailure = failure }
            return outcome
        }
        inFlightBytes = queuedBytes
        if !queued.isEmpty {
            outcome.next = queued
            queued = []
            queuedBytes = 0
        }
        let unsent = unsentBytes
        outcome.resumed = waiters.filter { $0.threshold >= unsent }
        if !outcome.resumed.isEmpty { waiters.removeAll { $0.threshold >= unsent } }
        return outcome
    }

    // MARK: - Waiting for the queue to drain

    /// Registers a waiter for `unsentBytes <= threshold`, or says it need not
    /// wait (`false`; `continuation` is then the caller's to resume).
    mutating func wait(untilUnsentAtMost threshold: Int, id: UInt64, peer: SocketAddress,
                       continuation: UnsafeContinuation<Void, any Error>) throws -> Bool {
        try refuseIfFailed(peer: peer)
        guard unsentBytes > threshold else { return false }
        waiters.append(Waiter(id: id, threshold: threshold, continuation: continuation))
        return true
    }

    mutating func makeWaiterID() -> UInt64 {
        nextWaiterID += 1
        return nextWaiterID
    }

    /// Removes the waiter `id` if it is still waiting.
    mutating func removeWaiter(_ id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index)
    }

    // MARK: - Refusals

    /// Throws unless the sink takes more bytes: it was finished, or see
    /// `refuseIfFailed`.
    mutating func refuseUnlessOpen(peer: SocketAddress) throws {
        if phase == .finished {
            throw IOError("send", .invalidArgument("the sink was finished: its sending direction is shut down"),
                          context: "\(peer)")
        }
        try refuseIfFailed(peer: peer)
    }

    /// Throws if a send or batch failed: its error once, if nobody heard it
    /// yet, then the generic refusal.
    private mutating func refuseIfFailed(peer: SocketAddress) throws {
        guard phase == .failed else { return }
        if let failure = unreportedFailure {
            unreportedFailure = nil
            throw failure
        }
        throw IOError("send", .invalidArgument("an earlier send failed part-way; the connection must not be reused"),
                      context: "\(peer)")
    }

    private static func busy(peer: SocketAddress) -> IOError {
        IOError("send", .invalidArgument("another send is in progress on this sink"), context: "\(peer)")
    }
}
