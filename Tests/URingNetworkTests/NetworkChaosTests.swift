// Connections under fire, drawn from a seed: clients dial, send chunks of a
// known sequence with every kind of send and write, and read the echo back
// with every kind of receive, each call with a deadline (some already past)
// or none; tasks are cancelled at random moments, clients close either half
// of their connection mid-conversation, and the network (or the group it
// runs on) shuts down while all of that is in flight; over TCP and over a
// Unix domain socket. Whatever the interleaving:
// - every client, handler and `serve` ends, and every call's answer is one
//   the situation allows (never, say, "another send is in progress" on a
//   sink that one task uses at a time);
// - the echo each client got is exactly the start of what it sent: no byte
//   wrong, missing or repeated, whatever failed, timed out or was cancelled
//   around it.
import CURing
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct NetworkChaosTests {
    static let seeds: [UInt64] = [31, 32, 33, UInt64.random(in: 34...UInt64.max)]

    /// Where the connections run, and so what shuts them down.
    enum Loops: String, CaseIterable, Sendable {
        /// The network's own two loops, stopped by `Network.shutdown()`.
        case own
        /// A group of two loops with handlers on them, stopped by the group.
        case group
    }

    /// Where the connections run, over which kind of socket.
    struct Setup: Sendable, CustomStringConvertible {
        let loops: Loops
        let unixDomain: Bool
        var description: String { "\(loops) loops, \(unixDomain ? "a Unix domain socket" : "TCP")" }
        static let all = [false, true].flatMap { unixDomain in Loops.allCases.map { Setup(loops: $0, unixDomain: unixDomain) } }
    }

    @Test(arguments: seeds, Setup.all)
    func connectionsRacingCancelsClosesDeadlinesAndShutdownKeepTheirBytesInOrder(seed: UInt64, setup: Setup) async throws {
        let (loops, unixDomain) = (setup.loops, setup.unixDomain)
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = hangGuard
        configuration.receiveBufferSize = 512  // so larger exact receives bypass the buffer
        configuration.writeBufferLimit = 2048
        let group = loops == .group ? try LoopGroup(count: 2) : nil
        let network = try group.map { try Network(configuration: configuration, loops: $0) } ?? Network(configuration: configuration)
        let context = "seed \(seed), \(setup)"
        var generator = SeededGenerator(seed: seed)

        let directory = try temporaryDirectory()
        defer { rmdir(directory) }  // empty once the listener has closed
        let listener = try network.bind(unixDomain
            ? try SocketAddress(unixDomainSocketPath: directory + "/chaos.sock")
            : try SocketAddress(host: "127.0.0.1", port: 0))
        let handlerOutcomes = SharedOutcomes()
        let handlers = Atomic<UInt64>(0)
        let server = Task {
            try await listener.serve { _, sink, stream in
                let number = handlers.wrappingAdd(1, ordering: .relaxed).oldValue
                do {
                    try await Self.echo(sink, stream, seed: seed ^ (number &* 0x9E37_79B9))
                    handlerOutcomes.append("ok")
                } catch {
                    handlerOutcomes.append(Self.describe(error))
                    throw error
                }
            }
        }
        let address = listener.localAddress
        let progress = ChaosProgress()
        let clients = (0..<16).map { index in
            let client = Task {
                let report = await ChaosClient(index: index, seed: seed &+ UInt64(index + 1) &* 0x5851_F42D)
                    .run(network, address, progress: progress)
                progress.clientsDone.wrappingAdd(1, ordering: .relaxed)
                return report
            }
            if Int.random(in: 0..<4, using: &generator) == 0 {
                let after = Duration.microseconds(Int.random(in: 0...5000, using: &generator))
                Task {
                    try? await Task.sleep(for: after)
                    client.cancel()
                }
            }
            return client
        }
        // The shutdown comes once the echoes are under way (or the clients
        // are done), so it meets connections at every stage.
        // (A client waiting for bytes that never come would stall this: it
        // ends with the shutdown 10 s after the last echo, and its echo is
        // checked.)
        try await untilProgress(
            reaches: Int.random(in: 1_000...30_000, using: &generator),
            progress: { progress.echoed.load(ordering: .relaxed) },
            finished: { progress.clientsDone.load(ordering: .relaxed) == clients.count })
        if Bool.random(using: &generator) { listener.close() }
        if let group {
            await group.shutdown(cancellingInFlight: true)
        } else {
            await network.shutdown()
        }
        let reports = try await bounded("every client (\(context))", seconds: 300) {
            var reports: [ChaosClient.Report] = []
            for client in clients { reports.append(await client.value) }
            return reports
        }
        try await bounded("serve's return (\(context))", seconds: 300) { _ = await server.result }
        listener.close()

        let outcomes = reports.flatMap(\.outcomes) + handlerOutcomes.all
        let unexpected = outcomes.filter { !ChaosClient.allowedOutcomes.contains($0) }
        #expect(unexpected.isEmpty, "\(context): \(Set(unexpected))")
        for report in reports {
            let inOrder = report.echoed == ChaosClient.sequence(report.index, report.echoed.count)
            #expect(inOrder, "\(context): client \(report.index)'s echo is not what it sent (\(report.echoed.count) bytes)")
            #expect(report.echoed.count <= report.sent, "\(context): client \(report.index) got more back than it sent")
        }
        #expect(reports.contains { !$0.echoed.isEmpty }, "\(context): no echo came back, so nothing was checked")
    }

    /// A handler: sends back what arrives, by a random kind of receive and
    /// send each time, until the peer closes.
    static func echo(_ sink: Sink, _ stream: Stream, seed: UInt64) async throws {
        var generator = SeededGenerator(seed: seed)
        let buffer = IOBuffer(capacity: 1024)
        while true {
            if Bool.random(using: &generator) {
                guard try await stream.receive(into: buffer) > 0 else { return }
                try await sink.send(buffer)  // not `write`: the buffer is reused at once
            } else {
                let bytes = try await stream.receive(upTo: Int.random(in: 1...1024, using: &generator))
                guard !bytes.isEmpty else { return }
                if Bool.random(using: &generator) {
                    try await sink.send(bytes)
                } else {
                    try await sink.write(bytes)
                    if Bool.random(using: &generator) { try await sink.flush() }
                }
            }
        }
    }

    /// A call's outcome, by kind.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? IOError else { return error is CancellationError ? "cancelled" : "\(error)" }
        if case .invalidArgument(let why) = error.reason {
            if why.contains("connection is closed") { return "closed" }
            if why.contains("must not be reused") { return "unusable" }
        }
        return "\(error.reason)"
    }
}

/// One client: dials, then sends chunks of its sequence and reads each
/// chunk's echo back, until the rounds are done or a call fails in a way
/// it cannot go on after (a receive that timed out is tried again).
struct ChaosClient: Sendable {
    struct Report: Sendable {
        let index: Int
        let outcomes: [String]
        let sent: Int
        let echoed: [UInt8]
    }

    static let allowedOutcomes: Set<String> = [
        "ok", "cancelled", "timedOut", "shutdown", "endOfFile", "closed", "unusable",
        "errno(\(ECONNRESET))", "errno(\(EPIPE))", "errno(\(ECONNREFUSED))",
        "errno(\(ENOENT))",  // dialing a Unix domain socket whose listener closed
    ]

    let index: Int
    let seed: UInt64

    static func sequence(_ client: Int, _ count: Int, from start: Int = 0) -> [UInt8] {
        (start..<start + count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8 &+ client &* 13) }
    }

    func run(_ network: Network, _ address: SocketAddress, progress: ChaosProgress) async -> Report {
        var generator = SeededGenerator(seed: seed)
        var outcomes: [String] = []
        var sent = 0
        var echoed: [UInt8] = []
        func report() -> Report { Report(index: index, outcomes: outcomes, sent: sent, echoed: echoed) }

        let sink: Sink
        let stream: Stream
        do {
            (sink, stream) = try await network.dial(address, deadline: Self.deadline(using: &generator))
        } catch {
            outcomes.append(NetworkChaosTests.describe(error))
            return report()
        }
        defer { sink.close() }
        // One chunk may stay unanswered while the next goes out, so a byte
        // lost in the middle shows as the wrong byte arriving after it.
        let rounds = Int.random(in: 1...12, using: &generator)
        for round in 0..<rounds {
            if Int.random(in: 0..<12, using: &generator) == 0 {
                // Either half ends the connection; the next call is refused.
                if Bool.random(using: &generator) { sink.close() } else { stream.close() }
            }
            let chunk = Self.sequence(index, Int.random(in: 1...700, using: &generator), from: sent)
            do {
                try await send(chunk, on: sink, using: &generator)
                sent += chunk.count
            } catch {
                outcomes.append(NetworkChaosTests.describe(error))
                return report()
            }
            // Up to this chunk may stay unanswered until the next round.
            let wanted = round == rounds - 1 ? sent : sent - Int.random(in: 0...chunk.count, using: &generator)
            while echoed.count < wanted {
                do {
                    let bytes = try await receive(atMost: sent - echoed.count, from: stream, using: &generator)
                    guard !bytes.isEmpty else {
                        outcomes.append("endOfFile")
                        return report()
                    }
                    echoed += bytes
                    progress.echoed.wrappingAdd(bytes.count, ordering: .relaxed)
                } catch let error as IOError where error.reason == .timedOut {
                    outcomes.append("timedOut")  // nothing was lost: try again
                } catch {
                    outcomes.append(NetworkChaosTests.describe(error))
                    return report()
                }
            }
            outcomes.append("ok")
        }
        return report()
    }

    private func send(_ chunk: [UInt8], on sink: Sink, using generator: inout SeededGenerator) async throws {
        let deadline = Self.deadline(using: &generator)
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: try await sink.send(chunk, deadline: deadline)
        case 1: try await sink.send(IOBuffer(bytes: chunk), deadline: deadline)
        case 2:
            let split = Int.random(in: 0...chunk.count, using: &generator)
            try await sink.send([IOBuffer(bytes: Array(chunk[..<split])), IOBuffer(bytes: Array(chunk[split...]))],
                                deadline: deadline)
        default:
            try await sink.write(chunk)
            try await sink.flush()
        }
    }

    private func receive(atMost count: Int, from stream: Stream, using generator: inout SeededGenerator) async throws -> [UInt8] {
        let deadline = Self.deadline(using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0:
            // Up to twice the stream's buffer: the larger ones bypass it.
            return try await stream.receive(exactly: Int.random(in: 1...min(count, 1024), using: &generator), deadline: deadline)
        case 1:
            return try await stream.receive(upTo: Int.random(in: 1...count, using: &generator), deadline: deadline)
        default:
            let buffer = IOBuffer(capacity: Int.random(in: 1...count, using: &generator))
            let received = try await stream.receive(into: buffer, deadline: deadline)
            return Array(buffer.bytes.prefix(received))
        }
    }

    /// None (the network's timeout), already passed, or 1 or 5 ms away.
    static func deadline(using generator: inout SeededGenerator) -> ContinuousClock.Instant? {
        [nil, nil, Duration.zero, .milliseconds(1), .milliseconds(5)].randomElement(using: &generator)!.map { .now + $0 }
    }
}

/// How far the clients are: bytes echoed back, clients done.
final class ChaosProgress: Sendable {
    let echoed = Atomic<Int>(0)
    let clientsDone = Atomic<Int>(0)
}

/// Outcomes from many tasks. (A pthread lock: ThreadSanitizer cannot see
/// Synchronization.Mutex.)
final class SharedOutcomes: Sendable {
    private let items = Locked<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}
