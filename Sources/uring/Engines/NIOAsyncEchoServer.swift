// Echo on NIO's structured-concurrency API: one event-loop thread, each
// connection an `NIOAsyncChannel` served by a plain child task, the shape of
// NIO's own NIOTCPEchoServer example and of new async NIO code generally.
//
// It is the like-for-like peer of our `uring` engine, whose connection tasks
// are plain ones too: both cross from an event-loop thread to the runtime's
// pool and back for every message. The `nio` engine (a channel handler on the
// event loop, no task at all) is the other shape, the one the target
// is measured against.
import NIOCore
import NIOPosix

final class NIOAsyncEchoServer: EchoServer {
    let port: UInt16
    private let group: MultiThreadedEventLoopGroup
    private let listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    /// Accepts connections and owns their tasks (a discarding group: a
    /// closed connection's task leaves nothing behind).
    private let serving: Task<Void, Never>

    /// `pinnedCPU` and `niceness` as for `NIOEchoServer.makeEventLoopGroup`.
    init(host: String, port: UInt16, pinnedCPU: Int? = nil, niceness: Int32? = nil) async throws {
        group = try await NIOEchoServer.makeEventLoopGroup(pinnedCPU: pinnedCPU, niceness: niceness)
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: Int(port)) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        self.port = UInt16(listener.channel.localAddress?.port ?? 0)
        let listener = self.listener
        serving = Task {
            try? await withThrowingDiscardingTaskGroup { connections in
                try await listener.executeThenClose { inbound in
                    for try await connection in inbound {
                        connections.addTask {
                            // A vanished peer ends this connection only.
                            try? await connection.executeThenClose { inbound, outbound in
                                for try await buffer in inbound {
                                    try await outbound.write(buffer)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func stop() async throws {
        // Every connection task ends before the event loop does: a task that
        // closes its channel (as `executeThenClose` does at the end) on a loop
        // already shut down waits forever. Closing the listener ends the
        // accept loop; cancelling ends the connections still open.
        try? await listener.channel.close()
        serving.cancel()
        await serving.value
        try await group.shutdownGracefully()
    }
}

