// Which calls on one socket may first try it on the caller's thread
// (`NetworkConfiguration.readyFirst`), shared by the socket's sends and
// receives.
//
// A call the socket answers at once does not suspend its task. A peer that
// always has the next message ready, or a datagram socket that always has
// room, would then let a handler run without ever suspending, holding the
// pool thread under it from every other task. So one call in `period` goes
// through the ring whatever the socket holds: its resume puts the task at
// the back of its executor's queue. (With no such turn, the echo
// benchmark's p99 latency was 3-4x NIO's: a few connections were served
// back to back while the others waited.)
//
// A turn that falls on a send is handed to the socket's next receive when
// receives try the socket first too. A receive through the ring waits
// behind the loop that resumes the other waiting receivers, which is what
// makes the turn fair; a send through the ring mostly wakes a send loop
// that has nothing else to do (in the echo benchmark, a quarter of a
// context switch per message on that loop alone). A socket that only sends
// still takes a turn: when a second turn falls on a send before any receive
// took the first, that send goes through the ring.
//
// Invariant: `sendTurnOwed` is true only between a send's turn and the
// next call that takes it (a receive, or the send that meets the next
// turn). Both atomics are relaxed: they count and flag, guarding no memory,
// and a turn taken twice or dropped by two racing calls only moves one
// call between the socket and the ring.
import Synchronization

final class ReadyFirstTurns: Sendable {
    /// One call in this many goes through the ring.
    static let period = 8

    private let enabled: ReadyFirst
    /// Calls so far that could try the socket first.
    private let calls = Atomic<Int>(0)
    /// Whether a send handed its turn to the next receive.
    private let sendTurnOwed = Atomic<Bool>(false)

    init(_ enabled: ReadyFirst) {
        self.enabled = enabled
    }

    /// Whether this call, in `direction`, may try the socket first;
    /// counts it when the direction may.
    func take(_ direction: ReadyFirst) -> Bool {
        guard enabled.contains(direction) else { return false }
        let turn = calls.wrappingAdd(1, ordering: .relaxed).newValue % ReadyFirstTurns.period == 0
        if direction == .receives {
            let owed = sendTurnOwed.load(ordering: .relaxed) && sendTurnOwed.exchange(false, ordering: .relaxed)
            return !(turn || owed)
        }
        guard turn else { return true }
        if enabled.contains(.receives) && !sendTurnOwed.exchange(true, ordering: .relaxed) {
            return true
        }
        sendTurnOwed.store(false, ordering: .relaxed)
        return false
    }
}
