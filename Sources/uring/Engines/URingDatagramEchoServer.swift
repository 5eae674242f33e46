// `uring echo-server --udp` and the `udp-echo` workload's server: datagrams
// echoed to their senders on URingNetwork's datagram sockets, by tasks that
// each keep a receive armed, so a burst from many clients is not served one
// trip at a time.
import URing
import URingLoop
import URingNetwork

/// Echo of datagrams: each one goes back whole to the address it came from.
final class URingDatagramEchoServer: LocalEchoServer {
    /// Receives kept armed at once, each with its own buffer. In `bench
    /// udp-echo` (32 clients) sixteen plain tasks echoed 64–75k datagrams/s
    /// against 48–51k for four, in interleaved runs.
    static let receivers = 16

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

    /// Echoes until the socket is closed or the network shut down. A
    /// datagram that cannot be echoed (longer than the buffer, a sender
    /// with no address to answer) is skipped.
    static func serve(_ socket: DatagramSocket) async {
        let buffer = IOBuffer(capacity: DatagramSocket.maximumUDPPayload)
        while true {
            do {
                let sender = try await socket.receive(into: buffer)
                try await socket.send(buffer, to: sender)
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
