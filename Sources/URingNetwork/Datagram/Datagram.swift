// One datagram as a DatagramSocket received it.
import URingLoop

/// The bytes of one datagram and the address they came from.
public struct Datagram: Sendable {
    /// The whole datagram: datagrams are never split or joined.
    public var bytes: [UInt8]
    /// The sender, to reply to with `send(_:to:)`.
    public var sender: SocketAddress

    public init(bytes: [UInt8], sender: SocketAddress) {
        self.bytes = bytes
        self.sender = sender
    }
}
