// `uring echo-server --udp`, as a person would run it: datagrams from a
// plain UDP client (and, with --unix, a Unix domain datagram client) come
// back whole to their sender, and SIGTERM stops it cleanly.
import CURing
import Glibc
import Testing
import URing
import URingLoop
import URingNetwork
import URingTestSupport
@testable import uring

@Suite struct EchoServerDatagramTests {
    /// Sends each datagram from `client` to `address` and expects it back
    /// whole (the receive gives up after 30 s, a guard against a lost reply).
    /// The blocking calls run on a thread of their own: on a pool thread
    /// they would hold it from the server's own tasks, and with another
    /// test doing the same, the pool would have none left to echo with
    /// (seen with two suites at once under AddressSanitizer).
    private func expectEchoes(_ client: Int32, to address: SocketAddress) async throws {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let messages = [Array("hello over UDP".utf8), [], [UInt8](repeating: 0xA5, count: 1400)]
        let replies = try await runBlocking { () throws -> [[UInt8]] in
            var storage = address.storage
            return try messages.map { message in
                let sent = withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(client, message, message.count, 0, $0, address.length)
                    }
                }
                guard sent == message.count else { throw BenchError("sendto: errno \(errno)") }
                var reply = [UInt8](repeating: 0, count: 2048)
                var count = -1
                // A signal (another test's child exiting) interrupts the wait.
                repeat { count = recv(client, &reply, reply.count, 0) } while count < 0 && errno == EINTR
                guard count >= 0 else { throw BenchError("recv: errno \(errno)") }
                return Array(reply.prefix(count))
            }
        }
        #expect(replies == messages)
    }

    @Test func echoesUDPDatagramsToTheirSenders() async throws {
        let (server, loops) = try await EchoServerCommand.parse(["--udp", "--port", "0"]).start()
        #expect(loops == nil)
        do {
            let client = socket(AF_INET, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
            try #require(client >= 0)
            defer { close(client) }
            try await expectEchoes(client, to: server.localAddress)
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    /// With --on-loops the echoing tasks run on the socket's loop: their
    /// receives and sends are staged there directly.
    @Test func onLoopsEchoesFromTheSocketsLoop() async throws {
        let (server, group) = try await EchoServerCommand.parse(["--udp", "--port", "0", "--on-loops"]).start()
        guard let loops = group else {
            try await server.stop()
            Issue.record("--udp --on-loops started no loop group")
            return
        }
        do {
            let client = socket(AF_INET, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
            try #require(client >= 0)
            defer { close(client) }
            try await expectEchoes(client, to: server.localAddress)
            try await until("the loops publish their statistics") {
                // Three datagrams, each a receive and a send.
                loops.handles.reduce(0) { $0 + $1.statistics.directSubmissions } >= 6
            }
        } catch {
            try await server.stop()
            await loops.shutdown()
            throw error
        }
        try await server.stop()
        await loops.shutdown()
    }

    @Test func echoesOnAUnixDomainDatagramSocketAndStopsOnSIGTERM() async throws {
        let tool = try builtExecutable("uring")
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/echo.sock"
        let clientPath = "\(directory)/client.sock"
        let output = "\(directory)/output"
        defer { unlink(output) }
        let server = try spawnChild([tool, "echo-server", "--udp", "--unix", path], environment: inheritedEnvironment(),
                                    output: output)
        var reaped = false
        defer { if !reaped { kill(server, SIGKILL); _ = waitpid(server, nil, 0); unlink(path) } }
        try await until("the server listens", seconds: 60, every: .milliseconds(10)) {
            readReport(output)?.contains("listening path=\(path)\n") == true
        }

        // A plain client, bound to a path of its own so that replies can reach it.
        let client = socket(AF_UNIX, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
        try #require(client >= 0)
        defer { close(client); unlink(clientPath) }
        var clientAddress = try SocketAddress(unixDomainSocketPath: clientPath)
        try #require(withUnsafePointer(to: &clientAddress.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(client, $0, clientAddress.length) }
        } == 0)
        try await expectEchoes(client, to: try SocketAddress(unixDomainSocketPath: path))

        kill(server, SIGTERM)
        let status = try await bounded("the server's exit after SIGTERM", seconds: 30) { await exitStatus(of: server) }
        reaped = true
        #expect(status == 0, "exit status \(status): \(readReport(output) ?? "")")
        #expect(readReport(output)?.contains("stopped") == true, "no clean stop in: \(readReport(output) ?? "")")
        #expect(access(path, F_OK) != 0, "the socket file outlived its server")
    }
}
