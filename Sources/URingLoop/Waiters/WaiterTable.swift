// The flat slab of admitted requests, indexed by `WaiterID`.
//
// Invariants (loop thread only):
// - `count` = occupied slots <= capacity = the loop's request capacity.
// - `slots` grows one slot at a time, and only when no freed slot is left,
//   so its size is the most requests held at once, not the capacity (a
//   network loop's capacity is a million).
// - A slot is freed only after its request's last operation CQE (or by
//   shutdown's abandonment, after which the loop matches the abandoned
//   requests' CQEs itself), so an operation CQE always finds its slot; only
//   cancel CQEs can be stale (they may arrive after the target finished and
//   the slot was reused: the generation tells).
// - At most one operation SQE per slot is in flight (`inFlight`).
// - `cancelReason` is set at most once; after it, the request ends with that
//   reason's error unless the operation's own success beats the cancel.
import URing

struct WaiterTable {
    struct Slot {
        var generation: UInt32 = 0
        var request: Request?
        var inFlight = false
        var cancelReason: CancelReason?
        /// The timing-wheel tick while a deadline is scheduled.
        var targetTick: UInt64?
    }

    enum StageOutcome {
        /// Push this SQE; the waiter is now in flight.
        case submit(SubmissionEntry)
        /// The request was cancelled before its next SQE; it has been removed
        /// and its caller already resumed.
        case ended(targetTick: UInt64?)
    }

    enum CompletionOutcome {
        /// A cancel's own CQE, or one for a slot that moved on: nothing to do.
        case ignored
        /// The request needs another SQE (short transfer, retry).
        case again(WaiterID)
        /// The request resumed its caller and left the table.
        case finished(targetTick: UInt64?)
    }

    private(set) var slots: [Slot] = []
    /// Freed slots, the most recently freed last (reused first: its memory
    /// is the likeliest to be in cache).
    private var free: [Int] = []
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isFull: Bool { count == capacity }
    var isEmpty: Bool { count == 0 }
    var freeCount: Int { capacity - count }

    /// Admits `request`; the table must not be full.
    mutating func insert(_ request: Request, targetTick: UInt64?) -> WaiterID {
        precondition(!isFull, "admitting a request to a full waiter table")
        let index: Int
        if let freed = free.popLast() {
            index = freed
        } else {
            index = slots.count
            slots.append(Slot())
        }
        let id = WaiterID(index: UInt32(index), generation: slots[index].generation)
        slots[index].request = request
        slots[index].inFlight = false
        slots[index].cancelReason = nil
        slots[index].targetTick = targetTick
        request.waiterID = id
        count += 1
        return id
    }

    /// Whether `id` names a live waiter.
    func contains(_ id: WaiterID) -> Bool {
        id.index < slots.count && slots[id.index].request != nil && slots[id.index].generation == id.generation
    }

    func isInFlight(_ id: WaiterID) -> Bool { contains(id) && slots[id.index].inFlight }

    func targetTick(of id: WaiterID) -> UInt64? { contains(id) ? slots[id.index].targetTick : nil }

    /// The deadline `id`'s request was admitted with.
    func deadline(of id: WaiterID) -> ContinuousClock.Instant? { contains(id) ? slots[id.index].request?.deadline : nil }

    /// Records that `id`'s deadline moved to `tick` on the wheel (the loop
    /// re-armed one farther away than the wheel reaches).
    mutating func rescheduled(_ id: WaiterID, at tick: UInt64) {
        precondition(contains(id) && slots[id.index].targetTick != nil, "rescheduling \(id), which has no deadline")
        slots[id.index].targetTick = tick
    }

    /// The request an operation CQE belongs to (nil for cancels and strays).
    func request(for userData: UInt64) -> Request? {
        let (id, isCancel) = WaiterID.decode(userData)
        return !isCancel && contains(id) ? slots[id.index].request : nil
    }

    /// Frees the slot and returns its request; bumps the generation so any
    /// late cancel CQE for the old id is recognised as stale.
    private mutating func remove(_ id: WaiterID) -> Request {
        let request = slots[id.index].request!
        request.waiterID = nil
        slots[id.index] = Slot(generation: id.nextGeneration)
        free.append(id.index)
        count -= 1
        return request
    }

    /// Builds the next SQE for `id`, or ends the request if a cancel came first.
    mutating func stage(_ id: WaiterID) -> StageOutcome {
        precondition(contains(id) && !slots[id.index].inFlight, "staging \(id), which is not an idle waiter")
        if let reason = slots[id.index].cancelReason {
            let tick = slots[id.index].targetTick
            let request = remove(id)
            request.end(cancelledFor: reason)
            return .ended(targetTick: tick)
        }
        slots[id.index].inFlight = true
        return .submit(slots[id.index].request!.makeEntry().userData(id.userData))
    }

    /// Applies a CQE.
    mutating func complete(userData: UInt64, result: Int32) -> CompletionOutcome {
        let (id, isCancel) = WaiterID.decode(userData)
        guard !isCancel else { return .ignored }
        guard contains(id), slots[id.index].inFlight else {
            assertionFailure("operation CQE for \(id), which is not in flight")
            return .ignored
        }
        slots[id.index].inFlight = false
        let slot = slots[id.index]
        switch slot.request!.complete(result, cancelReason: slot.cancelReason) {
        case .again:
            return .again(id)
        case .finished:
            _ = remove(id)
            return .finished(targetTick: slot.targetTick)
        }
    }

    /// Marks `id` for cancellation with `reason` and forgets its deadline
    /// (the caller removes that tick from the wheel). Returns whether the
    /// mark was new; a waiter is cancelled at most once.
    mutating func markCancelled(_ id: WaiterID, reason: CancelReason) -> (marked: Bool, targetTick: UInt64?) {
        guard contains(id), slots[id.index].cancelReason == nil else { return (false, nil) }
        slots[id.index].cancelReason = reason
        let tick = slots[id.index].targetTick
        slots[id.index].targetTick = nil
        return (true, tick)
    }

    /// The waiters whose requests may be cancelled and are not yet marked;
    /// with `armedAheadOnly`, only those armed ahead of any caller.
    func cancellableUnmarked(armedAheadOnly: Bool = false) -> [WaiterID] {
        slots.indices.compactMap { index in
            guard let request = slots[index].request, request.cancellable, slots[index].cancelReason == nil,
                  !armedAheadOnly || request.armedAhead else { return nil }
            return WaiterID(index: UInt32(index), generation: slots[index].generation)
        }
    }

    /// Ends every remaining request as abandoned (`.abandoned`, or what a
    /// batch had already taken) and empties the table. Returns the requests
    /// the kernel still holds, by the user data of their SQE in flight: the
    /// caller keeps each alive until that SQE's CQE, since the kernel may
    /// touch its memory until then.
    mutating func abandonAll() -> [UInt64: Request] {
        var inKernel: [UInt64: Request] = [:]
        for index in slots.indices where slots[index].request != nil {
            let id = WaiterID(index: UInt32(index), generation: slots[index].generation)
            let inFlight = slots[index].inFlight
            let request = remove(id)
            request.end(cancelledFor: .abandoned)
            if inFlight { inKernel[id.userData] = request }
        }
        return inKernel
    }
}
