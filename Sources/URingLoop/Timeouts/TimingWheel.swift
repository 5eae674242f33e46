// A hashed timing wheel for request deadlines, in user space: no timeout
// SQEs, and the loop's wait uses the next deadline as its enter timeout.
//
// Invariants:
// - Time is counted in ticks since `origin`; `currentTick` only grows.
// - A deadline maps to the first tick at or after it (never early) and is
//   clamped to `currentTick + horizonTicks`, the wheel's reach; the loop
//   re-arms a clamped deadline that is not yet due when its entry expires.
// - `slots.count` > `horizonTicks`, so when the wheel visits slot
//   `t % slots.count` at tick `t`, every live entry there is due exactly at
//   `t`. Entries of requests that finished early stay in their bucket
//   (lazy deletion) and are dropped when visited; `activeCounts` tracks only
//   live ones, so `nextDeadline` ignores the stale.
// - Buckets are only visited tick by tick from the last visited tick, so
//   every bucket is drained before it can be reused a lap later.

struct TimingWheel {
    struct Entry: Equatable {
        let id: WaiterID
        let tick: UInt64
    }

    let origin: ContinuousClock.Instant
    let tickNanoseconds: UInt64
    let horizonTicks: UInt64
    private var buckets: [[Entry]]
    private var activeCounts: [Int32]
    private(set) var currentTick: UInt64 = 0
    /// Live deadlines.
    private(set) var activeCount = 0
    /// Entries stored in buckets, live or stale.
    private(set) var storedCount = 0
    /// A lower bound of the earliest live tick (exact after `nextDeadline`).
    private var earliestTick: UInt64 = .max
    private var nowNanoseconds: UInt64 = 0

    init(tick: Duration, horizon: Duration, origin: ContinuousClock.Instant) {
        tickNanoseconds = max(tick.clampedNanoseconds, 1)
        let horizonNanoseconds = max(horizon.clampedNanoseconds, tickNanoseconds)
        horizonTicks = (horizonNanoseconds + tickNanoseconds - 1) / tickNanoseconds
        var size = 1
        while UInt64(size) <= horizonTicks { size <<= 1 }
        buckets = Array(repeating: [], count: size)
        activeCounts = Array(repeating: 0, count: size)
        self.origin = origin
    }

    var slotCount: Int { buckets.count }

    private func nanoseconds(at instant: ContinuousClock.Instant) -> UInt64 {
        instant < origin ? 0 : (instant - origin).clampedNanoseconds
    }

    /// The tick at which a deadline fires, or `nil` if it is already due.
    func targetTick(for deadline: ContinuousClock.Instant) -> UInt64? {
        let nanoseconds = nanoseconds(at: deadline)
        let tick = nanoseconds / tickNanoseconds + (nanoseconds % tickNanoseconds == 0 ? 0 : 1)
        guard tick > currentTick else { return nil }
        return min(tick, currentTick + horizonTicks)
    }

    /// Schedules `id` at `tick` (from `targetTick`, with no advance between).
    mutating func schedule(_ id: WaiterID, at tick: UInt64) {
        precondition(tick > currentTick && tick - currentTick <= horizonTicks, "tick \(tick) outside the wheel's horizon")
        let slot = Int(tick & UInt64(buckets.count - 1))
        buckets[slot].append(Entry(id: id, tick: tick))
        activeCounts[slot] += 1
        activeCount += 1
        storedCount += 1
        earliestTick = min(earliestTick, tick)
    }

    /// Forgets one live deadline at `tick` (its request finished or was cancelled).
    mutating func remove(tick: UInt64) {
        let slot = Int(tick & UInt64(buckets.count - 1))
        precondition(activeCounts[slot] > 0 && activeCount > 0, "removing a deadline the wheel does not hold")
        activeCounts[slot] -= 1
        activeCount -= 1
        if activeCount == 0 { earliestTick = .max }
    }

    /// Moves time to `now` and appends every entry whose tick passed, live or
    /// stale, to `expired` (the caller tells them apart and calls `remove`
    /// for the live ones).
    mutating func advance(to now: ContinuousClock.Instant, into expired: inout [Entry]) {
        nowNanoseconds = nanoseconds(at: now)
        let nowTick = nowNanoseconds / tickNanoseconds
        guard nowTick > currentTick else { return }
        if storedCount == 0 {
            currentTick = nowTick
            return
        }
        let steps = min(nowTick - currentTick, UInt64(buckets.count))
        var tick = nowTick - steps + 1
        while tick <= nowTick && storedCount > 0 {
            let slot = Int(tick & UInt64(buckets.count - 1))
            if !buckets[slot].isEmpty {
                storedCount -= buckets[slot].count
                expired.append(contentsOf: buckets[slot])
                buckets[slot].removeAll(keepingCapacity: true)
            }
            tick += 1
        }
        currentTick = nowTick
    }

    /// Time from the last `advance` until the earliest live deadline, or `nil`.
    mutating func nextDeadline() -> Duration? {
        guard activeCount > 0 else { return nil }
        var tick = max(earliestTick, currentTick + 1)
        while activeCounts[Int(tick & UInt64(buckets.count - 1))] == 0 {
            tick += 1
            precondition(tick <= currentTick + UInt64(buckets.count), "a live deadline is missing from the wheel")
        }
        earliestTick = tick
        let due = tick * tickNanoseconds
        return .nanoseconds(Int64(due > nowNanoseconds ? due - nowNanoseconds : 0))
    }
}
