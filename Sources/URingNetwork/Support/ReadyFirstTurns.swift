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
import Synchronization

final class ReadyFirstTurns: Sendable {
    /// One call in this many goes through the ring.
    static let period = 8

    private let enabled: ReadyFirst
    /// Calls so far that could try the socket first (relaxed: a count,
    /// guarding no memory).
    private let calls = Atomic<Int>(0)

    init(_ enabled: ReadyFirst) {
        self.enabled = enabled
    }

    /// Whether this call, in `direction`, may try the socket first;
    /// counts it when the direction may.
    func take(_ direction: ReadyFirst) -> Bool {
        enabled.contains(direction) && calls.wrappingAdd(1, ordering: .relaxed).newValue % ReadyFirstTurns.period != 0
    }
}
