// `uring echo-server --udp` and the `udp-echo` workload's server: datagrams
// echoed to their senders on URingNetwork's datagram sockets, by tasks that
// each keep a receive armed, so a burst from many clients is not served one
// trip at a time.
import URing
import URingLoop
import URingNetwork

/// Echo of datagrams: each one goes back whole to the address it came from.
final class URingDatagramEchoServer: LocalEchoServer {
    /// Receives kept armed at once, each task's. With `batch` buffers each:
    /// in `bench udp-echo` (32 clients, plain tasks) 8 tasks of 4 echoed
    /// 0.82–0.84x NIO's datagrams, 16 of 8 0.81–0.84x, 4 of 8 0.73–0.75x,
    /// and 16 tasks of one buffer 0.61–0.68x (BENCHMARKS.md).
    static let receivers = 8
    /// Datagrams one receive takes at most (each task's buffers, of 64 KiB).
    static let batch = 4

    let network: Network
    let socket: DatagramSocket
    private let serving: [Task<Void, Never>]

    var port: UInt16 { socket.localAddress.port }
    var localAddress: URingLoop.SocketAddress { socket.localAddress }

    /// Binds `address` (UDP, or a Unix domain datagram socket at a path)
    /// on a network of its own, or on `loops`, and starts echoing: with
    /// `preferLoop`, from tasks on the socket's loop (no hop between
    /// threads), else from plain tasks.
    static func start(address: URingLoop.SocketAddress, configuration: NetworkConfiguration,
                      loops: LoopGroup? = nil, preferLoop: Bool = false) async throws -> URingDatagramEchoServer {
        let network = try loops.map { try Network(configuration: configuration, loops: $0) } ?? Network(configuration: configuration)
        do {
            return URingDatagramEchoServer(network: network, socket: try network.bindDatagram(address), preferLoop: preferLoop)
        } catch {
            await network.shutdown()
            throw error
        }
    }

    private init(network: Network, socket: DatagramSocket, preferLoop: Bool) {
        self.network = network
        self.socket = socket
        let executor = preferLoop ? socket.executor : nil
        serving = (0..<URingDatagramEchoServer.receivers).map { _ in
            Task(executorPreference: executor) { await URingDatagramEchoServer.serve(socket) }
        }
    }

    /// Echoes until the socket is closed or the network shut down: takes
    /// every datagram that queued up while it was away (up to its buffers)
    /// in one receive, and sends the replies in one batch. A datagram that
    /// cannot be echoed (longer than the buffer, a sender with no address
    /// to answer) is skipped.
    static func serve(_ socket: DatagramSocket) async {
        let buffers = (0..<batch).map { _ in IOBuffer(capacity: DatagramSocket.maximumUDPPayload) }
        while true {
            do {
                let senders = try await socket.receive(into: buffers)
                if senders.count == 1 {
                    try await socket.send(buffers[0], to: senders[0])
                } else {
                    _ = try await socket.send(batch: zip(buffers, senders).map { OutgoingDatagram($0, to: $1) })
                }
            } catch let error as IOError where error.errno != nil {
                continue
            } catch {
                return
            }
        }
    }

    func stop() async throws {
        socket.close()
        await network.shutdown()
        for task in serving { await task.value }
    }
}
