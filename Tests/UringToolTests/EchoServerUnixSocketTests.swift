// `uring echo-server --unix PATH`, as a person would run it: it says where
// it listens, echoes what a plain client sends, and removes its socket file
// when SIGTERM stops it.
import CURing
import Glibc
import Testing
import URingTestSupport
@testable import uring

@Suite struct EchoServerUnixSocketTests {
    @Test func echoesOnAUnixDomainSocketAndRemovesItsFileWhenStopped() async throws {
        let tool = try builtExecutable("uring")
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/echo.sock"
        let output = "\(directory)/output"
        defer { unlink(output) }
        let server = try spawnChild([tool, "echo-server", "--unix", path], environment: inheritedEnvironment(), output: output)
        var reaped = false
        defer { if !reaped { kill(server, SIGKILL); _ = waitpid(server, nil, 0); unlink(path) } }
        try await until("the server listens", seconds: 60, every: .milliseconds(10)) {
            readReport(output)?.contains("listening path=\(path)\n") == true
        }

        // A plain blocking client, not ours.
        let client = socket(AF_UNIX, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        try #require(client >= 0)
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(connected == 0, "connect: errno \(errno)")
        let message = Array("hello over a path".utf8)
        // The exchange blocks a thread of its own, not one of the pool's,
        // and gives up after 60 s rather than hang.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let reply = try await runBlocking { () throws -> [UInt8] in
            guard send(client, message, message.count, 0) == message.count else { throw BenchError("send: errno \(errno)") }
            var reply = [UInt8](repeating: 0, count: message.count)
            var received = 0
            while received < message.count {
                let count = reply.withUnsafeMutableBytes { recv(client, $0.baseAddress! + received, message.count - received, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw BenchError("recv: \(count), errno \(errno)") }
                received += count
            }
            return reply
        }
        #expect(reply == message)

        kill(server, SIGTERM)
        let status = try await bounded("the server's exit after SIGTERM", seconds: 30) { await exitStatus(of: server) }
        reaped = true
        #expect(status == 0, "exit status \(status): \(readReport(output) ?? "")")
        #expect(readReport(output)?.contains("stopped") == true, "no clean stop in: \(readReport(output) ?? "")")
        #expect(access(path, F_OK) != 0, "the socket file outlived its server")
    }
}
