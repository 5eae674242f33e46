// One datagram of a batch (`Handle.sendDatagrams(_:on:)`): what, and where.

/// The valid bytes of `buffer`, to be sent as one datagram to `destination`
/// (nil: a connected socket's peer).
public struct OutgoingDatagram: Sendable {
    public var buffer: IOBuffer
    public var destination: SocketAddress?

    public init(_ buffer: IOBuffer, to destination: SocketAddress? = nil) {
        self.buffer = buffer
        self.destination = destination
    }
}
