// Every echo server the benchmark runs stops while a client is still
// connected: `stop` returns, and the client sees its connection end. (The
// benchmark's client closes its sockets before stopping a server, so its
// runs do not exercise this; a server whose connection tasks outlive its
// event loop would hang here.)
import Glibc
import Testing
import URingLoop
import URingTestSupport
@testable import uring

@Suite struct EchoServerStopTests {
    enum Shape: String, CaseIterable, Sendable {
        case uring, uringOnLoops, nio, nioAsync
    }

    @Test(arguments: Shape.allCases)
    func stopsWithAClientStillConnected(_ shape: Shape) async throws {
        let (server, group) = try await start(shape)
        let client = try await runBlocking { try Self.connectAndEchoOnce(port: server.port) }
        defer { close(client) }
        try await stop(server, group)
        // The server closed the connection: end of stream or a reset, never
        // the receive timeout (EAGAIN) of a connection left open.
        let (count, error) = try await runBlocking { () -> (Int, Int32) in
            var byte: UInt8 = 0
            let count = recv(client, &byte, 1, 0)
            return (count, count < 0 ? errno : 0)
        }
        #expect(count == 0 || (count < 0 && error == ECONNRESET), "recv returned \(count), errno \(error)")
    }

    /// The benchmark's order: its clients close their sockets, then the
    /// server is stopped at once, while its connection tasks may still be
    /// handling those ends.
    @Test(arguments: Shape.allCases)
    func stopsRightAfterItsClientsLeft(_ shape: Shape) async throws {
        for _ in 0..<5 {
            let (server, group) = try await start(shape)
            let clients = try await runBlocking { try (0..<32).map { _ in try Self.connectAndEchoOnce(port: server.port) } }
            for client in clients { close(client) }
            try await stop(server, group)
        }
    }

    /// The uring-global engine's child server: one that ignores SIGTERM (a
    /// shell that traps it, then a `sleep` that inherits the ignore) cannot
    /// hold `stop` until it ends by itself; it is killed after the bound,
    /// and the stop reports that instead of a clean exit.
    @Test func aChildServerThatIgnoresSIGTERMIsKilledAfterTheBound() async throws {
        let server = try await ChildEchoServer.start(arguments: [
            "/bin/sh", "-c", "trap '' TERM; echo listening port=9; exec sleep 120",
        ])
        #expect(server.port == 9)
        let pid = server.pid
        do {
            try await bounded("stopping the child", seconds: 60) { try await server.stop(within: .milliseconds(200)) }
            Issue.record("a child that ignored SIGTERM was reported as stopped cleanly")
        } catch let error as BenchError {
            #expect("\(error)".contains("was still running"), "\(error)")
        }
        #expect(!isRunning(pid), "the child \(pid) outlived its stop")
    }

    /// Nor can a child that never reports its port hold `start`: it is
    /// killed after the bound (exit status 128 + SIGKILL).
    @Test func aChildServerThatNeverListensIsKilledAfterTheBound() async throws {
        do {
            let server = try await bounded("starting the child", seconds: 60) {
                try await ChildEchoServer.start(arguments: ["/bin/sh", "-c", "exec sleep 120"], within: .milliseconds(200))
            }
            try? await server.stop()
            Issue.record("a child that printed nothing was started, on port \(server.port)")
        } catch let error as BenchError {
            #expect("\(error)".contains("did not report its port within 0.2 seconds (printed \"\", exit status 137)"), "\(error)")
        }
    }

    private func start(_ shape: Shape) async throws -> (any EchoServer, LoopGroup?) {
        switch shape {
        case .uring: return (try URingEchoServer(host: "127.0.0.1", port: 0), nil)
        case .uringOnLoops:
            let group = try LoopGroup()
            do {
                return (try URingEchoServer(host: "127.0.0.1", port: 0, loops: group), group)
            } catch {
                await group.shutdown()
                throw error
            }
        case .nio: return (try await NIOEchoServer(host: "127.0.0.1", port: 0), nil)
        case .nioAsync: return (try await NIOAsyncEchoServer(host: "127.0.0.1", port: 0), nil)
        }
    }

    /// Stops the server (and its loops), failing instead of hanging.
    private func stop(_ server: any EchoServer, _ group: LoopGroup?) async throws {
        try await bounded("stopping the server", seconds: 60) {
            try await server.stop()
            await group?.shutdown()
        }
    }

    /// A blocking client socket that has had one 64-byte message echoed, so
    /// the server's connection is established and waiting for the next. Its
    /// receives time out after a minute instead of hanging the test.
    private static func connectAndEchoOnce(port: UInt16) throws -> Int32 {
        let fd = try EchoClient.connect(port: port)
        do {
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let message = [UInt8](repeating: 42, count: 64)
            guard send(fd, message, message.count, Int32(MSG_NOSIGNAL)) == message.count else {
                throw BenchError("send failed: errno \(errno)")
            }
            var reply = [UInt8](repeating: 0, count: 64)
            var received = 0
            while received < reply.count {
                let count = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, 64 - received, 0) }
                guard count > 0 else { throw BenchError("recv failed: \(count), errno \(errno)") }
                received += count
            }
            guard reply == message else { throw BenchError("the server echoed different bytes") }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }
}
