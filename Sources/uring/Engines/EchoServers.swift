// Echo servers for the echo workload and the echo-server command: ours on
// URingNetwork, and NIO's on one event-loop thread (the idiomatic NIO echo
// handler: write what is read, flush at the end of each read burst).
import NIOCore
import NIOPosix
import URing
import URingLoop
import URingNetwork

/// A running echo server.
protocol EchoServer: Sendable {
    var port: UInt16 { get }
    func stop() async throws
}

/// Echo on URingNetwork: one task per connection, `receive(into:)` then `send`.
final class URingEchoServer: EchoServer {
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

/// Echo on NIOPosix with a single event-loop thread.
final class NIOEchoServer: EchoServer {
    private final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let port: UInt16

    /// `pinnedCPU` and `niceness` as for `makeEventLoopGroup`. A failed bind
    /// shuts the event loop down again.
    init(host: String, port: UInt16, pinnedCPU: Int? = nil, niceness: Int32? = nil) async throws {
        group = try await NIOEchoServer.makeEventLoopGroup(pinnedCPU: pinnedCPU, niceness: niceness)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
        do {
            channel = try await bootstrap.bind(host: host, port: Int(port)).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        self.port = UInt16(channel.localAddress?.port ?? 0)
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    /// One event-loop thread: with `pinnedCPU` it runs only there (NIO's own
    /// pinning API), as the uring-local loops do with --pin-loops; with
    /// `niceness`, at that nice value, as --thread-nice sets our loops'.
    static func makeEventLoopGroup(pinnedCPU: Int?, niceness: Int32?) async throws -> MultiThreadedEventLoopGroup {
        let group = pinnedCPU.map { MultiThreadedEventLoopGroup(pinnedCPUIDs: [$0]) } ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        if let niceness {
            do {
                try await group.next().submit { try ThreadPriority.setCurrentThreadNiceness(niceness) }.get()
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
        }
        return group
    }
}
