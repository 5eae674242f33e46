// An echo server of ours, `uring echo-server`'s: it also knows the address
// it is bound to, which the command prints.
import URingLoop

/// A running echo server bound to a known address.
protocol LocalEchoServer: EchoServer {
    var localAddress: SocketAddress { get }
}
