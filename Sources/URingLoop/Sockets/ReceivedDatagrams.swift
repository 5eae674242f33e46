// What a batch of datagram receives (`Handle.receiveDatagrams`) got.
import URing

/// The senders of the datagrams a batch received, one per buffer filled
/// (in order, from the first), and the error that ended the batch after its
/// first datagram, if any: the caller has the datagrams, and the error is
/// theirs to report next (`DatagramSocket` throws it from its next receive).
public struct ReceivedDatagrams: Sendable {
    public var senders: [SocketAddress]
    public var trailingError: IOError?

    public init(senders: [SocketAddress], trailingError: IOError? = nil) {
        self.senders = senders
        self.trailingError = trailingError
    }
}
