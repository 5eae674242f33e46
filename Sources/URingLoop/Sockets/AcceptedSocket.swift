// What an accept through the ring yields.

/// A connection accepted on a listening socket. The caller owns `fd`.
public struct AcceptedSocket: Sendable {
    /// The new connection's descriptor (close-on-exec).
    public var fd: Int32
    /// The peer's address.
    public var peer: SocketAddress
}
