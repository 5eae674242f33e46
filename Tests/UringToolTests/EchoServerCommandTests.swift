// `uring echo-server`: every serving shape echoes every byte (the
// benchmark's client checks each reply), and --on-loops and
// --global-executor really serve on the loops.
import ArgumentParser
import Testing
import URing
import URingNetwork
@testable import uring

@Suite struct EchoServerCommandTests {
    @Test func servesConnectionsWithOrdinaryTasksByDefault() async throws {
        let (server, loops) = try await EchoServerCommand.parse(["--port", "0"]).start()
        #expect(loops == nil)
        do {
            let measurement = try await echo(port: server.port)
            #expect(measurement.sampler.operations >= 4)
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    @Test func onLoopsServesEachConnectionOnItsLoop() async throws {
        let (server, group) = try await EchoServerCommand.parse(["--port", "0", "--on-loops"]).start()
        guard let loops = group else {
            try await server.stop()
            Issue.record("--on-loops started no loop group")
            return
        }
        do {
            let measurement = try await echo(port: server.port)
            #expect(measurement.sampler.operations >= 4)
            // Requests made by tasks running on a loop are staged directly,
            // without the channel: only the on-loops shape has any.
            let direct = loops.handles.reduce(0) { $0 + $1.statistics.directSubmissions }
            #expect(direct >= UInt64(measurement.sampler.operations), "direct submissions: \(direct)")
        } catch {
            try await server.stop()
            await loops.shutdown()
            throw error
        }
        try await server.stop()
        await loops.shutdown()
    }

    /// A name for --host is looked up, and the server listens on its first
    /// address: `localhost`, which /etc/hosts answers on any machine.
    @Test func aHostNameIsLookedUp() async throws {
        let (server, _) = try await EchoServerCommand.parse(["--host", "localhost", "--port", "0"]).start()
        do {
            let address = server.localAddress
            #expect(["127.0.0.1", "::1"].contains(address.host), "\(address)")
            let network = try Network()
            let (sink, stream) = try await network.dial(address)
            try await sink.send([1, 2, 3])
            #expect(try await stream.receive(exactly: 3) == [1, 2, 3])
            sink.close()
            await network.shutdown()
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
        // A name with no address: the server does not start, and says why.
        await #expect(throws: IOError.self) {
            _ = try await EchoServerCommand.parse(["--host", "nowhere.invalid", "--port", "0"]).start()
        }
    }

    @Test func badCombinationsAreRefused() {
        let cases: [([String], String)] = [
            (["--pin-loops"], "--pin-loops needs --on-loops or --global-executor"),
            (["--on-loops", "--global-executor"], "--on-loops and --global-executor are two different shapes; choose one"),
            (["--idle-spin", "20000"], "--idle-spin must be in 0...10000 µs"),
            (["--idle-spin", "-1"], "--idle-spin must be in 0...10000 µs"),
            (["--port", "-1"], "The value '-1' is invalid for '--port <port>'"),
            (["--thread-nice", "-21"], "--thread-nice must be in -20...19, got -21"),
            (["--unix", ""], "a Unix domain socket path must not be empty"),
            (["--unix", String(repeating: "x", count: 108)], "a Unix domain socket path holds at most 107 bytes"),
            (["--host", ""], "a host name must be non-empty and without NUL bytes"),
        ]
        expectRefused(EchoServerCommand.self, cases)
    }

    /// --global-executor in a child process (the takeover lasts for its
    /// process), as the uring-global engine runs it: it echoes, and its
    /// plain connection tasks ran on its loops and submitted there.
    @Test func globalExecutorServesPlainTasksOnItsLoops() async throws {
        let server = try await ChildEchoServer.start(options: ["--global-executor"])
        let measurement: Measurement
        do {
            measurement = try await echo(port: server.port)
        } catch {
            try? await server.stop()
            throw error
        }
        try await server.stop()
        #expect(measurement.sampler.operations >= 4)
        let direct = try #require(server.directSubmissions, "the child reported no statistics")
        #expect(direct >= UInt64(measurement.sampler.operations), "direct submissions: \(direct)")
    }

    /// A child that fails before listening is an error naming what it
    /// printed and how it exited, not a hang or a port of 0.
    @Test func aChildThatCannotStartIsReported() async throws {
        do {
            let server = try await ChildEchoServer.start(options: ["--global-executor", "--idle-spin", "20000"])
            try? await server.stop()
            Issue.record("a child refused its options yet reported a port")
        } catch {
            // ArgumentParser's exit code for a validation error is 64 (EX_USAGE).
            #expect("\(error)".contains("did not report its port (printed \"\", exit status 64)"), "\(error)")
        }
    }

    /// Four connections for a tenth of a second, each message checked.
    private func echo(port: UInt16) async throws -> Measurement {
        try await EchoClient.run(port: port, connections: 4, messageSize: 64, duration: .milliseconds(100))
    }
}
