// `uring echo-server`: both serving shapes echo every byte (the benchmark's
// client checks each reply), and --on-loops really serves on the loops.
import ArgumentParser
import Testing
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

    @Test func pinningNeedsTheLoops() {
        do {
            _ = try EchoServerCommand.parse(["--pin-loops"])
            Issue.record("--pin-loops was accepted without --on-loops")
        } catch {
            let message = EchoServerCommand.message(for: error)
            #expect(message.contains("--pin-loops needs --on-loops"), "\(message)")
        }
    }

    /// Four connections for a tenth of a second, each message checked.
    private func echo(port: UInt16) async throws -> Measurement {
        try await runBlocking {
            try EchoClient.run(port: port, connections: 4, messageSize: 64, duration: .milliseconds(100))
        }
    }
}
