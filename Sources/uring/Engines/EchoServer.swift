// What the echo workload and `uring echo-server` need of a server, whichever
// library runs it: the port it listens on, and a way to stop it.

/// A running echo server.
protocol EchoServer: Sendable {
    var port: UInt16 { get }
    func stop() async throws
}

