// The waiter table and the timing wheel against simple reference models,
// under random operation sequences (shrunk to a minimal failing case).
import Glibc
import PropertyBased
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct WaiterTableProperties {
    /// Operations: 0 insert, 1 stage, 2 complete (done), 3 complete (short:
    /// needs another SQE), 4 cancel, 5 stale cancel CQE for a freed id,
    /// 6 stale-generation lookups. Each picks its target with `pick`.
    @Test func tableMatchesAReferenceModel() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...6).array(of: 1...120), Gen.int(in: 0...1000).array(of: 120)) { operations, picks in
            var table = WaiterTable(capacity: 4)
            // Reference: live ids -> (inFlight, cancelled).
            var model: [WaiterID: (inFlight: Bool, cancelled: Bool)] = [:]
            var freed: [WaiterID] = []
            var requests: [WaiterID: ProbeRequest] = [:]
            for (step, operation) in operations.enumerated() {
                let pick = picks[step % picks.count]
                let live = model.keys.sorted { $0.rawValue < $1.rawValue }
                func choose(_ ids: [WaiterID]) -> WaiterID? { ids.isEmpty ? nil : ids[pick % ids.count] }
                switch operation {
                case 0 where !table.isFull:
                    let request = ProbeRequest(needed: 1 + pick % 2)
                    let id = table.insert(request, targetTick: nil)
                    #expect(model[id] == nil, "a live id was handed out twice")
                    #expect(!freed.contains(id), "a freed id came back with the same generation")
                    model[id] = (false, false)
                    requests[id] = request
                case 1:
                    guard let id = choose(live.filter { !model[$0]!.inFlight }) else { continue }
                    switch table.stage(id) {
                    case .submit(let entry):
                        #expect(!model[id]!.cancelled)
                        #expect(entry.userData == id.userData)
                        model[id]!.inFlight = true
                    case .ended:
                        #expect(model[id]!.cancelled)
                        model[id] = nil
                        freed.append(id)
                    }
                case 2, 3:
                    guard let id = choose(live.filter { model[$0]!.inFlight }) else { continue }
                    let request = requests[id]!
                    let wasShort = request.needed > 1
                    switch table.complete(userData: id.userData, result: 1) {
                    case .again(let again):
                        #expect(again == id)
                        #expect(wasShort && !model[id]!.cancelled)
                        model[id]!.inFlight = false
                    case .finished:
                        model[id] = nil
                        freed.append(id)
                    case .ignored:
                        Issue.record("an in-flight operation CQE was ignored")
                    }
                case 4:
                    guard let id = choose(live) else { continue }
                    let marked = table.markCancelled(id, reason: .timeout).marked
                    #expect(marked == !model[id]!.cancelled)
                    model[id]!.cancelled = true
                case 5:
                    guard let id = choose(freed) else { continue }
                    guard case .ignored = table.complete(userData: id.cancelUserData, result: -ENOENT) else {
                        Issue.record("a stale cancel CQE was applied"); continue
                    }
                case 6:
                    guard let id = choose(freed) else { continue }
                    #expect(!table.contains(id))
                    #expect(!table.markCancelled(id, reason: .task).marked)
                default:
                    continue
                }
                #expect(table.count == model.count)
                for (id, state) in model {
                    #expect(table.contains(id))
                    #expect(table.isInFlight(id) == state.inFlight)
                }
            }
        }
    }
}

@Suite struct TimingWheelProperties {
    /// Random schedules (including far deadlines clamped to the horizon),
    /// early removals and jumps of time, wrapping the wheel many times: what
    /// expires live must be exactly what the reference says is due, never early.
    @Test func wheelMatchesAReferenceModel() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...3).array(of: 1...150), Gen.int(in: 0...5000).array(of: 150)) { operations, values in
            let origin = ContinuousClock.now
            let tick = Duration.milliseconds(1)
            var wheel = TimingWheel(tick: tick, horizon: .milliseconds(20), origin: origin)
            var now: Int64 = 0  // microseconds since origin
            var live: [WaiterID: (tick: UInt64, deadline: Int64)] = [:]  // reference
            var nextIndex: UInt32 = 0
            var expired: [TimingWheel.Entry] = []
            for (step, operation) in operations.enumerated() {
                let value = values[step % values.count]
                switch operation {
                case 0:  // a deadline 0...60 ms ahead, at microsecond precision (beyond 20 ms: clamped)
                    let deadline = now + Int64(value * 12 % 60_001)
                    guard let target = wheel.targetTick(for: origin + .microseconds(deadline)) else {
                        #expect(deadline <= Int64(wheel.currentTick) * 1000, "only a deadline already due may be refused")
                        continue
                    }
                    #expect(target > wheel.currentTick)
                    #expect(target <= wheel.currentTick + wheel.horizonTicks)
                    let id = WaiterID(index: nextIndex, generation: 0)
                    nextIndex += 1
                    wheel.schedule(id, at: target)
                    live[id] = (target, deadline)
                case 1:  // a request finishes early
                    guard !live.isEmpty else { continue }
                    let id = live.keys.sorted { $0.rawValue < $1.rawValue }[value % live.count]
                    wheel.remove(tick: live.removeValue(forKey: id)!.tick)
                default:  // time passes, sometimes by more than a lap
                    now += Int64(operation == 2 ? value % 7_000 : value * 19 % 90_000)
                    expired.removeAll()
                    wheel.advance(to: origin + .microseconds(now), into: &expired)
                    for entry in expired where live[entry.id]?.tick == entry.tick {
                        let deadline = live[entry.id]!.deadline
                        // Never early: the deadline itself has passed, or it
                        // was clamped to the horizon (the loop re-arms it).
                        #expect(deadline <= now || entry.tick * 1000 <= UInt64(now), "expired early")
                        live[entry.id] = nil
                        wheel.remove(tick: entry.tick)
                    }
                    let overdue = live.filter { $0.value.tick * 1000 <= UInt64(now) }
                    #expect(overdue.isEmpty, "due deadlines were not expired: \(overdue)")
                    let early = expired.filter { live[$0.id] != nil }
                    #expect(early.isEmpty, "live entries came out before their tick")
                }
                #expect(wheel.activeCount == live.count)
                let next = wheel.nextDeadline()
                #expect((next == nil) == live.isEmpty)
                if let next, let earliest = live.values.map(\.tick).min() {
                    #expect(next == .microseconds(max(Int64(earliest) * 1000 - now, 0)))
                }
            }
        }
    }
}
