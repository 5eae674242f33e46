// How a Network behaves: socket options, timeouts, buffering, loops.
import URing
import URingLoop

/// The settings of one `Network`.
public struct NetworkConfiguration: Sendable, Hashable {
    /// Disable Nagle's algorithm (`TCP_NODELAY`): small messages leave at once.
    public var noDelay = true
    /// `SO_LINGER` with a zero timeout: closing resets the connection instead
    /// of lingering in TIME_WAIT, reclaiming sockets from misbehaving peers at once.
    public var zeroLinger = true
    /// TCP keepalive probes on every connection, so one whose peer vanished
    /// without a word ends even while nothing is sent (`nil`: none, the
    /// kernel's default). Not for Unix domain sockets, which need none.
    public var keepAlive: KeepAlive?
    /// Applied to every top-level send and receive; `nil` waits forever.
    public var readWriteTimeout: Duration? = .seconds(30)
    /// How long `dial` waits for a connection unless given a deadline; `nil`
    /// leaves it to the kernel (its SYN retries take about two minutes).
    public var connectTimeout: Duration? = .seconds(10)
    /// How long `dial(host:port:)` lets one address try before it starts
    /// the next beside it (RFC 8305's "Connection Attempt Delay"; at least
    /// 10 ms, its floor).
    public var connectionAttemptDelay: Duration = .milliseconds(250)
    /// Size of each stream's receive buffer (large reads bypass it).
    public var receiveBufferSize = 64 * 1024
    /// How many bytes a `Sink` may hold written but unsent before `write`
    /// waits for room (one larger buffer still goes, alone).
    public var writeBufferLimit = 1 << 20
    /// Run sends and receives on separate loops. A send the kernel can take
    /// at once is copied, and on loopback delivered, by the thread that
    /// submits it, so on one loop large sends hold up everyone's receives;
    /// two loops put that work on two threads. (A slow peer holds up
    /// nothing either way: its send waits in the kernel, not on the loop.)
    /// With `false`, one loop serves both.
    public var separateLoops = true
    /// Which socket calls first ask the socket itself, on the calling
    /// task's own thread and without waiting: a nonblocking `send` or
    /// `recv`, the same first attempt io_uring makes on its loop's thread.
    /// Only what must wait (no room to send, data not yet arrived) goes
    /// through the ring. A call the socket answers at once costs no trip
    /// to a loop's thread and back, and its task does not suspend.
    ///
    /// By default both (`.all`), as Go's and Tokio's sockets do: a send
    /// that fits no longer suspends its task, nor does a receive that finds
    /// its data (a pipelining peer's queued requests, the next message of a
    /// peer on the same machine that answers at once, a bulk transfer). In
    /// a ping-pong between threads sharing a few CPUs, a handler and a
    /// client answering each other at once then hold those CPUs from the
    /// rest for a while: the echo benchmark did 1.1-1.2x the messages of
    /// the ring alone, with a p99 latency 1.5-2x its (BENCHMARKS.md).
    /// `.sends` keeps receives in the ring. Either way one such call in eight
    /// on a socket goes through the ring, so that a peer always ready
    /// cannot keep its handler from ever suspending; with `.all`, a turn
    /// that falls on a send goes to the socket's next receive (a receive
    /// through the ring waits behind the other receivers; a send mostly
    /// wakes an idle send loop), or to the send that meets the next turn
    /// if no receive came. A receive that must
    /// wait pays the failed attempt, one system call, on top; a large send
    /// copies what the socket takes on the calling thread. Tasks running on
    /// their connection's loop (`Network(loops:)`) always use the ring,
    /// which answers them there without a hop. `[]` sends every call
    /// through the ring. `Sink.write` takes it for a batch that finds the
    /// sink idle (one the socket takes whole finishes before `write`
    /// returns); datagram sockets for their single sends and their
    /// receives.
    public var readyFirst: ReadyFirst = .all
    /// How many accepts each listener keeps armed in the kernel ahead of
    /// its callers (1...1024), counting connections accepted and not yet
    /// taken: a burst of clients up to this size is accepted in one pass of
    /// the receive loop, instead of one round trip to the accepting task
    /// each. Each armed accept holds one of the receive loop's requests.
    public var acceptDepth = 16
    /// Settings of the loop(s). A receive loop holds a request for every
    /// connection waiting for data, so a network's loops default to the
    /// largest request capacity (`LoopConfiguration.maximumRequestCapacity`,
    /// 1,048,576 each) rather than a storage loop's: the descriptor limit
    /// comes first. With a smaller one, connections past it wait for a
    /// place, accepts on the receive loop too.
    public var loop = NetworkConfiguration.defaultLoop

    public init() {}

    /// A loop configuration with room for many idle connections.
    public static var defaultLoop: LoopConfiguration {
        var loop = LoopConfiguration()
        loop.requestCapacity = LoopConfiguration.maximumRequestCapacity
        return loop
    }

    /// The accept depths a listener can keep.
    static let acceptDepths = 1...1024

    /// `self`, or the first setting a network cannot run with.
    func validated() throws(IOError) -> NetworkConfiguration {
        guard receiveBufferSize > 0 else {
            throw IOError("network configuration", .invalidArgument("receiveBufferSize must be positive"))
        }
        for (name, timeout) in [("readWriteTimeout", readWriteTimeout), ("connectTimeout", connectTimeout)] {
            if let timeout, timeout <= .zero {
                throw IOError("network configuration", .invalidArgument("\(name) must be positive (nil: no timeout)"))
            }
        }
        guard connectionAttemptDelay >= .milliseconds(10) else {
            throw IOError("network configuration", .invalidArgument(
                "connectionAttemptDelay must be at least 10 ms (RFC 8305), got \(connectionAttemptDelay)"))
        }
        _ = try keepAlive?.socketValues()
        guard NetworkConfiguration.acceptDepths.contains(acceptDepth) else {
            throw IOError("network configuration", .invalidArgument(
                "acceptDepth must be in \(NetworkConfiguration.acceptDepths), got \(acceptDepth)"))
        }
        guard writeBufferLimit > 0 else {
            throw IOError("network configuration", .invalidArgument("writeBufferLimit must be positive"))
        }
        return self
    }
}
