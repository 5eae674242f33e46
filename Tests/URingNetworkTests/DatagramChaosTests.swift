// Datagram sockets under fire, drawn from a seed: receivers wait on one
// server socket with deadlines (some already past) or none, connected
// senders send numbered datagrams, tasks are cancelled at random moments,
// and then the server socket is closed or the network (or its group) shuts
// down with all of that in flight (or with only the receives left waiting);
// over UDP and a Unix domain socket.
// Whatever the interleaving:
// - every receiver and sender ends, each call's answer one the situation
//   allows;
// - every datagram received is one that was sent, whole, and none twice;
// - once the calls have returned, the server's address is free: its
//   descriptor was released, by the close or by the last call after it.
import CURing
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct DatagramChaosTests {
    static let seeds: [UInt64] = [41, 42, 43, UInt64.random(in: 44...UInt64.max)]

    struct Setup: Sendable, CustomStringConvertible {
        let onGroup: Bool
        let unixDomain: Bool
        var description: String { "\(onGroup ? "a group's loops" : "own loops"), \(unixDomain ? "Unix domain" : "UDP")" }
        static let all = [false, true].flatMap { unixDomain in [false, true].map { Setup(onGroup: $0, unixDomain: unixDomain) } }
    }

    /// Datagrams each sender sends if nothing stops it first.
    static let perSender = underThreadSanitizer ? 150 : 600

    static let allowedOutcomes: Set<String> = [
        "ok", "cancelled", "timedOut", "shutdown", "closed",
        // A sender whose server went away: refused (Unix domain, or UDP's
        // ICMP answer), or a Unix domain server shut down but not yet released.
        "errno(\(ECONNREFUSED))", "errno(\(EPIPE))",
    ]

    static func describe(_ error: any Error) -> String {
        guard let error = error as? IOError else { return error is CancellationError ? "cancelled" : "\(error)" }
        if error.reason == .invalidArgument("the socket is closed") { return "closed" }
        return "\(error.reason)"
    }

    /// A datagram's payload: sender, number, then a pattern of a length
    /// that both determine.
    static func payload(sender: Int, number: Int) -> [UInt8] {
        [UInt8(sender), UInt8(number >> 8), UInt8(number & 0xFF)] + pattern((sender * 31 + number) % 300, seed: sender)
    }

    @Test(arguments: seeds, Setup.all)
    func receiversAndSendersRacingCancelsDeadlinesCloseAndShutdown(seed: UInt64, setup: Setup) async throws {
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = hangGuard
        let group = setup.onGroup ? try LoopGroup(count: 2) : nil
        let network = try group.map { try Network(configuration: configuration, loops: $0) } ?? Network(configuration: configuration)
        let context = "seed \(seed), \(setup)"
        var generator = SeededGenerator(seed: seed)
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let address = setup.unixDomain
            ? try SocketAddress(unixDomainSocketPath: directory + "/chaos.sock") : try SocketAddress(host: "127.0.0.1", port: 0)
        let server = try network.bindDatagram(address)
        let received = Locked<[[UInt8]]>([])
        let outcomes = Locked<[String]>([])
        let sendersDone = Locked<Int>(0)

        let receivers = (0..<4).map { index in
            let deadlines = SeededGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
            return Task {
                var deadlines = deadlines
                while true {
                    let deadline: ContinuousClock.Instant? = switch Int.random(in: 0..<4, using: &deadlines) {
                    case 0: .now - .milliseconds(1)
                    case 1: .now + .microseconds(Int.random(in: 50...2000, using: &deadlines))
                    default: nil
                    }
                    do {
                        let datagram = try await server.receive(deadline: deadline)
                        received.withLock { $0.append(datagram.bytes) }
                    } catch {
                        let outcome = Self.describe(error)
                        outcomes.withLock { $0.append(outcome) }
                        if outcome != "timedOut" { return }
                    }
                }
            }
        }
        let senders = (0..<8).map { sender in
            let task = Task {
                do {
                    let client = try await network.connectDatagram(to: server.localAddress)
                    for number in 0..<Self.perSender {
                        try await client.send(Self.payload(sender: sender, number: number))
                    }
                    outcomes.withLock { $0.append("ok") }
                } catch {
                    outcomes.withLock { $0.append(Self.describe(error)) }
                }
                sendersDone.withLock { $0 += 1 }
            }
            if Int.random(in: 0..<4, using: &generator) == 0 {
                let after = Duration.microseconds(Int.random(in: 0...3000, using: &generator))
                Task {
                    try? await Task.sleep(for: after)
                    task.cancel()
                }
            }
            return task
        }
        // Then, with the traffic under way (or, one time in four, over:
        // every receive waiting on a quiet socket), one of three ways to end it.
        // Senders whose sends the socket takes at once (readyFirst) can all
        // be done before a receiver first runs, their datagrams queued in
        // the socket: traffic counts as over once something was received.
        let receivedAny = { received.withLock { !$0.isEmpty } }
        if Int.random(in: 0..<4, using: &generator) == 0 {
            for task in senders { await task.value }
            try await untilProgress(reaches: 1, progress: { received.withLock { $0.count } })
            try await Task.sleep(for: .milliseconds(20))
        } else {
            try await untilProgress(reaches: Int.random(in: 50...1_500, using: &generator),
                                    progress: { received.withLock { $0.count } },
                                    finished: { sendersDone.withLock { $0 } == senders.count && receivedAny() })
        }
        let ending = Int.random(in: 0..<3, using: &generator)
        switch ending {
        case 0: server.close()
        case 1: if let group { await group.shutdown(cancellingInFlight: true) } else { await network.shutdown() }
        default:
            server.close()
            if let group { await group.shutdown(cancellingInFlight: true) } else { await network.shutdown() }
        }
        // Senders still going after a shutdown alone find their loops gone;
        // after a close alone they are refused or fill the queue: a
        // Unix domain sender then waits for room, so the close is followed
        // by a shutdown for them to end.
        if ending == 0 {
            try await Task.sleep(for: .milliseconds(5))
            if let group { await group.shutdown(cancellingInFlight: true) } else { await network.shutdown() }
        }
        try await bounded("every receiver and sender (\(context))", seconds: 300) {
            for task in receivers { await task.value }
            for task in senders { await task.value }
        }
        server.close()

        let unexpected = outcomes.withLock { $0 }.filter { !Self.allowedOutcomes.contains($0) }
        #expect(unexpected.isEmpty, "\(context): \(Set(unexpected))")
        let datagrams = received.withLock { $0 }
        #expect(!datagrams.isEmpty, "\(context): nothing was received, so nothing was checked")
        var seen = Set<[UInt8]>()
        for bytes in datagrams {
            guard bytes.count >= 3 else {
                Issue.record("\(context): a datagram of \(bytes.count) bytes")
                continue
            }
            let (sender, number) = (Int(bytes[0]), Int(bytes[1]) << 8 | Int(bytes[2]))
            #expect(sender < 8 && number < Self.perSender && bytes == Self.payload(sender: sender, number: number),
                    "\(context): a datagram that was never sent")
            #expect(seen.insert(Array(bytes.prefix(3))).inserted, "\(context): sender \(sender)'s \(number) twice")
        }
        // Released: the address can be bound again (a fresh network, the
        // old one being shut down).
        let again = try Network()
        let rebound = try again.bindDatagram(setup.unixDomain ? address : server.localAddress)
        rebound.close()
        await again.shutdown()
        if let group { await group.shutdown() }
    }
}
