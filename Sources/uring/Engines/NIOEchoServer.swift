// The `nio` echo engine's server: the idiomatic NIO echo handler (write
// what is read, flush at the end of each read burst) on one event-loop thread.
import NIOCore
import NIOPosix
import URingLoop

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
        (channel, self.port) = try await NIOEchoServer.bound(shuttingDownOnFailure: group) {
            bootstrap.bind(host: host, port: Int(port))
        }
    }

    /// The channel `bind` binds, and its port; a failed bind shuts `group`
    /// down again.
    static func bound(shuttingDownOnFailure group: MultiThreadedEventLoopGroup,
                      _ bind: () -> EventLoopFuture<any Channel>) async throws -> (any Channel, UInt16) {
        do {
            let channel = try await bind().get()
            return (channel, UInt16(channel.localAddress?.port ?? 0))
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
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
