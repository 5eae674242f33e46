// Our echo server on URingNetwork, for the echo workload and `uring
// echo-server`: one task per connection, `receive(into:)` then `send`.
import URing
import URingLoop
import URingNetwork

/// Echo on URingNetwork: one task per connection, `receive(into:)` then `send`.
final class URingEchoServer: LocalEchoServer {
    let network: Network
    let listener: Listener
    private let acceptor: Task<Void, Never>

    var port: UInt16 { listener.localAddress.port }
    var localAddress: URingLoop.SocketAddress { listener.localAddress }

    /// With `loops`, every connection lives on one loop of the group and,
    /// with `preferLoops`, its task runs there too (executor preference): no
    /// cross-thread hops. Without `preferLoops` the tasks are plain ones (for
    /// a group installed as the global executor, which moves them itself).
    convenience init(host: String, port: UInt16, configuration: NetworkConfiguration = URingEchoServer.defaultConfiguration,
                     loops: LoopGroup? = nil, preferLoops: Bool = true) throws {
        try self.init(address: try URingLoop.SocketAddress(host: host, port: port), configuration: configuration,
                      loops: loops, preferLoops: preferLoops)
    }

    /// Listens on `address`: IPv4, IPv6 or a Unix domain socket path.
    init(address: URingLoop.SocketAddress, configuration: NetworkConfiguration = URingEchoServer.defaultConfiguration,
         loops: LoopGroup? = nil, preferLoops: Bool = true) throws {
        network = try loops.map { try Network(configuration: configuration, loops: $0) } ?? Network(configuration: configuration)
        listener = try network.bind(address)
        let listener = self.listener
        acceptor = Task {
            // Ends when the listener is closed, the network shut down or this
            // task cancelled; a failure no retry can mend ends the accepts
            // too, leaving the connections already served.
            try? await listener.serve(handlersOnLoops: preferLoops) { _, sink, stream in
                await URingEchoServer.serve(sink: sink, stream: stream)
            }
        }
    }

    /// No read/write timeout: an echo server waits as long as its clients do.
    static var defaultConfiguration: NetworkConfiguration {
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = nil
        return configuration
    }

    /// Echoes from one buffer per connection: what arrives is sent back from
    /// where the kernel put it (as NIO's handler writes back the buffer it
    /// read), with no copy or allocation per message.
    static func serve(sink: Sink, stream: Stream) async {
        let buffer = IOBuffer(capacity: 64 * 1024)
        do {
            while try await stream.receive(into: buffer) > 0 {
                try await sink.send(buffer)
            }
        } catch {
            // A vanished peer or a cancelled task ends this connection only.
        }
        sink.close()
    }

    func stop() async throws {
        listener.close()
        acceptor.cancel()
        // Connections still open end when the loops shut down (or, on a
        // group's loops, when the group's owner shuts it down).
        await network.shutdown()
        await acceptor.value
    }
}
