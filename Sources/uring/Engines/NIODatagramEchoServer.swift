// The `nio` engine of `udp-echo`: NIO's datagram echo handler (each envelope
// written back to where it came from, flushed at the end of a read burst)
// on one event-loop thread, as its UDPEchoServer example does.
import NIOCore
import NIOPosix

/// Datagram echo on NIOPosix with a single event-loop thread.
final class NIODatagramEchoServer: EchoServer {
    private final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // The envelope names its sender: written back as it is, it goes there.
            context.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // One datagram's trouble (a sender gone) ends nothing.
        }
    }

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let port: UInt16

    /// As `NIOEchoServer`'s: a failed bind shuts the event loop down again.
    init(host: String, port: UInt16, pinnedCPU: Int? = nil, niceness: Int32? = nil) async throws {
        group = try await NIOEchoServer.makeEventLoopGroup(pinnedCPU: pinnedCPU, niceness: niceness)
        let bootstrap = DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
        (channel, self.port) = try await NIOEchoServer.bound(shuttingDownOnFailure: group) {
            bootstrap.bind(host: host, port: Int(port))
        }
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}
