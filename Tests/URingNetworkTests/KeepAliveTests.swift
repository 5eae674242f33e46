// TCP keepalive: set on every TCP connection, dialed or accepted, when
// configured; never on Unix domain sockets; values out of the kernel's
// ranges refused with the network. (A peer that vanishes without a word
// cannot be staged on loopback: the kernel answers every probe there; what
// the kernel does with the options is its own.)
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct KeepAliveTests {
    @Test func dialedAndAcceptedConnectionsProbeAsConfigured() async throws {
        try await withNetwork(configure: { $0.keepAlive = KeepAlive(idle: .seconds(30), interval: .milliseconds(2_500), probes: 4) }) { network in
            let (_, client, server) = try await connectedPair(network)
            for fd in [client.sink.socket.fd, server.sink.socket.fd] {
                #expect(try option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1)
                #expect(try option(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE) == 30)
                #expect(try option(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL) == 3, "2.5 s rounds up to whole seconds")
                #expect(try option(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT) == 4)
            }
            try await client.sink.send([1])
            #expect(try await server.stream.receive(exactly: 1) == [1])
        }
    }

    @Test func withoutItConnectionsDoNotProbe() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            #expect(try option(client.sink.socket.fd, SOL_SOCKET, SO_KEEPALIVE) == 0)
            #expect(try option(server.sink.socket.fd, SOL_SOCKET, SO_KEEPALIVE) == 0)
        }
    }

    @Test func unixDomainConnectionsIgnoreIt() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        try await withNetwork(configure: { $0.keepAlive = KeepAlive() }) { network in
            let listener = try network.bind(try SocketAddress(unixDomainSocketPath: "\(directory)/keepalive.sock"))
            defer { listener.close() }
            async let accepted = listener.accept()
            let client = try await network.dial(listener.localAddress)
            let server = try await accepted
            try await client.sink.send([2])
            #expect(try await server.stream.receive(exactly: 1) == [2])
        }
    }

    @Test func valuesOutsideTheKernelsRangesAreRefused() throws {
        let refused = [KeepAlive(idle: .zero), KeepAlive(idle: .seconds(32_768)), KeepAlive(interval: .milliseconds(-1)),
                       KeepAlive(probes: 0), KeepAlive(probes: 128)]
        for keepAlive in refused {
            var configuration = NetworkConfiguration()
            configuration.keepAlive = keepAlive
            #expect(throws: IOError.self, "\(keepAlive)") { _ = try Network(configuration: configuration) }
        }
        var configuration = NetworkConfiguration()
        configuration.keepAlive = KeepAlive(idle: .milliseconds(1), interval: .seconds(32_767), probes: 127)
        let error = #expect(throws: IOError.self) {
            var tooFew = configuration
            tooFew.keepAlive?.probes = 0
            _ = try Network(configuration: tooFew)
        }
        #expect(error?.reason == .invalidArgument("keepAlive.probes must be within 1...127, got 0"))
        _ = try configuration.validated()
    }

    private func option(_ fd: Int32, _ level: Int32, _ name: Int32) throws -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        try #require(getsockopt(fd, level, name, &value, &length) == 0, "getsockopt: errno \(errno)")
        return value
    }
}
