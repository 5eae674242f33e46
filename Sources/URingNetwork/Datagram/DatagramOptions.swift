// Socket options a datagram socket is made with: what UDP servers and
// discovery protocols set before they bind.

/// How `Network.bindDatagram` and `connectDatagram` set up a socket.
public struct DatagramOptions: Sendable, Hashable {
    /// `SO_BROADCAST`: may send to a broadcast address (`255.255.255.255`,
    /// a subnet's); without it such a send is `EACCES`. A socket receives
    /// broadcasts when bound to the wildcard address (`0.0.0.0`).
    public var broadcast = false
    /// `SO_REUSEPORT`: several sockets, each with this option (in one
    /// process or several of the same user), may bind one address; the
    /// kernel spreads incoming datagrams over them by sender, so a server
    /// can have a socket per loop. Without it a second bind is `EADDRINUSE`.
    public var reusePort = false
    /// `SO_RCVBUF`, in bytes: how much the kernel queues for the socket
    /// before it drops datagrams. The kernel doubles the value (for its
    /// bookkeeping) and caps it at `net.core.rmem_max`; `receiveBufferSize`
    /// on the socket reads back what it granted. Nil keeps its default.
    public var receiveBufferSize: Int?
    /// `SO_SNDBUF`, in bytes, as `receiveBufferSize` (capped at
    /// `net.core.wmem_max`).
    public var sendBufferSize: Int?

    public init(broadcast: Bool = false, reusePort: Bool = false, receiveBufferSize: Int? = nil, sendBufferSize: Int? = nil) {
        self.broadcast = broadcast
        self.reusePort = reusePort
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
    }
}
