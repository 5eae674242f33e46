// A logical I/O request: a state machine that may need several SQEs (short
// reads and writes continue) and owns every resource the kernel touches
// (buffers, iovecs, addresses) until its last CQE.
//
// Threading: a task creates the request and sets its continuation (or a
// completion handler), then hands it to the loop through the channel's mutex,
// which orders those writes before the loop's reads. From then on only the
// loop thread reads or writes the request's fields, until it resumes the
// continuation or calls the handler (exactly once, through `succeed`/`fail`),
// after which nobody does. The one field other threads
// touch is `lifecycle`, an atomic: the task's cancellation handler moves it
// from `pending` to `cancelRequested`; the loop moves it to `finished`.
// That is why `@unchecked Sendable` is sound here.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import URing

@usableFromInline
class Request: @unchecked Sendable {
    static let pending: UInt8 = 0
    static let cancelRequested: UInt8 = 1
    static let finished: UInt8 = 2

    /// `pending` -> `cancelRequested` (task cancelled) -> `finished`,
    /// or `pending` -> `finished`.
    let lifecycle = Atomic<UInt8>(Request.pending)
    /// The operation's name, for errors.
    let operation: String
    /// What the SQE in flight does, for fault plans: `operation`, unless
    /// the request goes on to an operation of another kind (a write that
    /// then syncs).
    var stepName: String { operation }
    /// When the request times out, if ever.
    let deadline: ContinuousClock.Instant?
    /// Whether cancelling the caller's task cancels the request in flight.
    /// `false` for requests the kernel finishes promptly on its own and could
    /// not interrupt anyway (nop, fsync, close, regular-file I/O): those skip
    /// the task-cancellation record, which costs the Swift runtime's global
    /// status-record lock per request, and only honour a cancellation that
    /// happened before they were submitted.
    let cancellable: Bool
    /// Armed on nobody's behalf yet (a listener's accepts ahead of its
    /// callers): not work a draining shutdown waits for, so every shutdown
    /// cancels it.
    let armedAhead: Bool

    /// The handle that carries the request, for a task cancellation to reach
    /// its loop. Set by the task before its cancellation record exists and
    /// read only by that record's handler, while `HandleCore.perform` keeps
    /// the handle alive (hence `unowned(unsafe)`: no reference counting).
    unowned(unsafe) var carrier: HandleCore?

    // Loop-thread state.
    /// The waiter slot while admitted.
    var waiterID: WaiterID?

    init(operation: String, deadline: ContinuousClock.Instant?, cancellable: Bool = true, armedAhead: Bool = false) {
        self.operation = operation
        self.deadline = deadline
        self.cancellable = cancellable
        self.armedAhead = armedAhead
    }

    /// The next SQE (without user data; the loop sets it).
    func makeEntry() -> SubmissionEntry {
        preconditionFailure("\(type(of: self)) must override makeEntry()")
    }

    /// Consumes one CQE result that is not a retry or a requested cancel.
    func onCompletion(_ result: Int32) -> CompletionStep {
        preconditionFailure("\(type(of: self)) must override onCompletion(_:)")
    }

    /// The kernel asked for a retry (`-EAGAIN`, `-EINTR`) and no cancel is
    /// pending: by default the same SQE goes again at once (`.again`). A
    /// request whose retry must first wait for something (a datagram send,
    /// for room) changes its next SQE here; one for which `-EAGAIN` means
    /// "nothing more for now" (a batch of receives that has some) resumes
    /// its caller and returns `.finished`.
    func retryStep(after result: Int32) -> CompletionStep { .again }

    /// Resumes the caller with `error`.
    func fail(_ error: any Error) {
        preconditionFailure("\(type(of: self)) must override fail(_:)")
    }

    /// The kernel finished this request after a shutdown abandoned it (its
    /// caller already has `.abandoned`): releases whatever a success created
    /// that nobody will ever receive, such as a descriptor. Nothing by default.
    func discardLateResult(_ result: Int32) {}

    /// Whether the caller's task asked to cancel.
    var isCancelRequested: Bool {
        lifecycle.load(ordering: .relaxed) == Request.cancelRequested
    }

    /// Records a task's cancellation; `true` if the loop must be told
    /// (the request had not finished yet).
    func requestCancel() -> Bool {
        lifecycle.compareExchange(expected: Request.pending, desired: Request.cancelRequested, ordering: .relaxed).exchanged
    }

    /// The caller's task was cancelled: flag the request and, if it has not
    /// finished, tell the loop. The cancel is a message like any other, so it
    /// wakes a sleeping loop.
    func cancelFromTask() {
        guard requestCancel(), let carrier else { return }
        if carrier.channel.enqueueCancellation(self) {
            carrier.waker.publish()
        }
    }

    /// The error a caller gets when the request ends for `reason`.
    func error(for reason: CancelReason) -> any Error {
        switch reason {
        case .timeout: return IOError(operation, .timedOut)
        case .task: return CancellationError()
        case .shutdown: return IOError(operation, .shutdown)
        case .abandoned: return IOError(operation, .abandoned)
        }
    }

    /// Ends the request for a cancel (a deadline, the task, a shutdown) that
    /// reached it between SQEs or interrupted one, or for a shutdown's
    /// timeout that abandons it wherever it is: by default with the
    /// cancel's error. A request that already holds results its caller must
    /// not lose (a batch of receives with datagrams taken from the socket)
    /// delivers them instead.
    func end(cancelledFor reason: CancelReason) {
        fail(error(for: reason))
    }

    /// Applies a CQE. A requested cancel turns `-ECANCELED` (and retries) into
    /// the cancel's error; a success that races the cancel is still delivered,
    /// since its effect (bytes consumed or written) has happened.
    final func complete(_ result: Int32, cancelReason: CancelReason?) -> CompletionStep {
        if result == -ECANCELED || result == -EINTR || result == -EAGAIN {
            if let cancelReason {
                end(cancelledFor: cancelReason)
                return .finished
            }
            if result != -ECANCELED { return retryStep(after: result) }
        }
        let step = onCompletion(result)
        if step == .again, let cancelReason {
            end(cancelledFor: cancelReason)
            return .finished
        }
        return step
    }
}
