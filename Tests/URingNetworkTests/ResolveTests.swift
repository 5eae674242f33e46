// Dialing by name: `SocketAddress.resolve` and `Network.dial(host:port:)`.
//
// Lookups that must be slow (to race a deadline or a cancel against) use a
// stand-in lookup that blocks its thread until the test lets it go; the
// system's resolver is used only for `localhost`, which /etc/hosts answers
// on any machine, so no test depends on DNS.
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct ResolveTests {
    @Test func numericHostsAreParsedWithoutALookup() async throws {
        let lookups = Atomic<Int>(0)
        for host in ["127.0.0.1", "::1"] {
            let addresses = try await SocketAddress.resolve(host: host, port: 7, deadline: nil) { _ in
                lookups.add(1, ordering: .relaxed)
                return .failure(IOError("resolve", .notFound))
            }
            #expect(addresses.map(\.description) == [host.contains(":") ? "[::1]:7" : "127.0.0.1:7"])
        }
        #expect(lookups.load(ordering: .relaxed) == 0)
    }

    @Test func localhostResolvesToLoopbackWithThePort() async throws {
        let addresses = try await SocketAddress.resolve(host: "localhost", port: 8080)
        #expect(!addresses.isEmpty)
        for address in addresses {
            #expect(address.port == 8080)
            #expect(["127.0.0.1", "::1"].contains(address.host), "localhost resolved to \(address)")
        }
        let unique = addresses.indices.allSatisfy { index in
            !addresses[..<index].contains { $0.sameBytes(as: addresses[index]) }
        }
        #expect(unique, "repeated addresses: \(addresses)")
    }

    @Test func emptyNamesAndNamesWithNULAreRefused() async throws {
        for host in ["", "local\u{0}host"] {
            let error = await #expect(throws: IOError.self) { _ = try await SocketAddress.resolve(host: host, port: 1) }
            guard case .invalidArgument = error?.reason else {
                Issue.record("\(host.debugDescription): \(String(describing: error))")
                continue
            }
        }
    }

    @Test func resolverFailuresHaveTheirReasons() {
        let cases: [(Int32, Int32, IOError.Reason)] = [
            (EAI_NONAME, 0, .notFound),
            (-5, 0, .notFound),  // EAI_NODATA
            (EAI_AGAIN, 0, .errno(EAGAIN)),
            (EAI_MEMORY, 0, .errno(ENOMEM)),
            (EAI_SYSTEM, EMFILE, .errno(EMFILE)),
            (EAI_FAIL, 0, .errno(EIO)),
        ]
        for (code, errno, reason) in cases {
            let error = SocketAddress.resolutionError(code, errno: errno, host: "example.test")
            #expect(error.operation == "resolve")
            #expect(error.reason == reason, "getaddrinfo \(code) gave \(error)")
            #expect(error.context?.hasPrefix("example.test") == true, "\(error)")
        }
    }

    @Test func aLookupsFailureIsThrown() async throws {
        let error = await #expect(throws: IOError.self) {
            _ = try await SocketAddress.resolve(host: "nowhere.test", port: 1, deadline: nil) { host in
                .failure(IOError("resolve", .notFound, context: host))
            }
        }
        #expect(error?.reason == .notFound)
        #expect(error?.context == "nowhere.test")
        // An answer with no address (getaddrinfo's only IPv4/IPv6-less
        // kind) is not found either, not an empty list.
        let empty = await #expect(throws: IOError.self) {
            _ = try await SocketAddress.resolve(host: "empty.test", port: 1, deadline: nil) { _ in .success([]) }
        }
        #expect(empty?.reason == .notFound)
    }

    @Test func theDeadlineEndsTheWaitForASlowLookup() async throws {
        let lookup = BlockedLookup()
        defer { lookup.release() }
        let error = await #expect(throws: IOError.self) {
            _ = try await bounded("a lookup past its deadline", seconds: 300) {
                try await SocketAddress.resolve(host: "slow.test", port: 1, deadline: .now + .milliseconds(100), lookup: lookup.run)
            }
        }
        #expect(error?.reason == .timedOut)
        #expect(lookup.started)
    }

    @Test func cancellingTheTaskEndsTheWaitForASlowLookup() async throws {
        let lookup = BlockedLookup()
        defer { lookup.release() }
        let waiter = Task { try await SocketAddress.resolve(host: "slow.test", port: 1, deadline: nil, lookup: lookup.run) }
        try await until("the lookup started") { lookup.started }
        waiter.cancel()
        await #expect(throws: CancellationError.self) {
            _ = try await bounded("a cancelled lookup", seconds: 300) { try await waiter.value }
        }
    }

    @Test func aTaskCancelledBeforeTheCallDoesNotWait() async throws {
        let lookup = BlockedLookup()
        defer { lookup.release() }
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await SocketAddress.resolve(host: "slow.test", port: 1, deadline: nil, lookup: lookup.run)
        }
        await #expect(throws: CancellationError.self) {
            _ = try await bounded("a lookup cancelled before the call", seconds: 300) { try await waiter.value }
        }
        #expect(!lookup.started, "a lookup ran for a task cancelled before it")
    }

    /// Lookups that end about when their deadlines pass (four callers, fifty
    /// lookups each, the two a millisecond apart give or take a few hundred
    /// microseconds): every caller gets exactly one outcome, an answer or a
    /// timeout (a second resume would trap, a missing one hang the test).
    @Test func lookupsRacingTheirDeadlinesEachEndOnce() async throws {
        let outcomes = try await bounded("racing lookups", seconds: 300) {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for caller in 0..<4 {
                    group.addTask {
                        var outcomes: [String] = []
                        for index in 0..<50 {
                            do {
                                let addresses = try await SocketAddress.resolve(
                                    host: "race.test", port: 1, deadline: .now + .microseconds(1_000)
                                ) { _ in
                                    usleep(UInt32(700 + (index + caller) % 7 * 100))
                                    return .success([try! SocketAddress(host: "10.0.0.1", port: 0)])
                                }
                                outcomes.append(addresses.map(\.description) == ["10.0.0.1:1"] ? "answer" : "wrong")
                            } catch let error as IOError where error.reason == .timedOut {
                                outcomes.append("timedOut")
                            }
                        }
                        return outcomes
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        #expect(outcomes.count == 200)
        #expect(!outcomes.contains("wrong"))
    }

    @Test func dialByNameConnects() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            async let accepted = listener.accept()
            let client = try await network.dial(host: "localhost", port: listener.localAddress.port)
            let server = try await accepted
            try await client.sink.send([4, 2])
            #expect(try await server.stream.receive(exactly: 2) == [4, 2])
        }
    }

    /// A name whose first address refuses (127.0.0.2: loopback, but the
    /// listener is bound to 127.0.0.1 only): the dial goes on to the next.
    @Test func dialByNameTriesTheNextAddressWhenOneRefuses() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            async let accepted = listener.accept()
            let client = try await network.dial(host: "two.test", port: listener.localAddress.port, deadline: nil) { _, _ in
                .success([try! SocketAddress(host: "127.0.0.2", port: 0), try! SocketAddress(host: "127.0.0.1", port: 0)])
            }
            let server = try await accepted
            #expect(server.peer.host == "127.0.0.1")
            try await client.sink.send([9])
            #expect(try await server.stream.receive(exactly: 1) == [9])
        }
    }

    @Test func dialByNameWithNothingListeningSaysWhatItTried() async throws {
        let refusing = try RefusingPort()
        try await withNetwork { network in
            // Nothing listens on 127.0.0.2 or .3 at this port either: the
            // one test that listens on 127.0.0.2 takes the port of its own
            // listener on 127.0.0.1, and this port is held there.
            let port = refusing.address.port
            let error = await #expect(throws: IOError.self) { _ = try await network.dial(host: "localhost", port: port) }
            #expect(error?.errno == ECONNREFUSED, "\(String(describing: error))")
            #expect(error?.context?.contains("localhost port \(port),") == true, "\(String(describing: error))")
            let several = await #expect(throws: IOError.self) {
                _ = try await network.dial(host: "two.test", port: port, deadline: nil) { _, _ in
                    .success([try! SocketAddress(host: "127.0.0.2", port: 0), try! SocketAddress(host: "127.0.0.3", port: 0)])
                }
            }
            #expect(several?.errno == ECONNREFUSED, "\(String(describing: several))")
            #expect(several?.context?.hasPrefix("two.test port \(port), all 2 of its addresses tried") == true,
                    "\(String(describing: several))")
            #expect(several?.context?.contains("127.0.0.3") == true, "the last attempt's address: \(String(describing: several))")
        }
    }

    /// An address that never answers (a listener whose queue is full: the
    /// kernel drops the handshake) is overtaken after the attempt delay by
    /// the next, which listens on the same port on 127.0.0.2, with no
    /// deadline and a connect timeout of an hour: tried one after the
    /// other, the silent one would hold the dial for the kernel's SYN
    /// retries (127 s), past the test's bound (which leaves
    /// room for a sanitizer's load: the dial itself takes a quarter second).
    @Test func anAddressThatNeverAnswersIsOvertakenByTheNext() async throws {
        let silent = try SilentListener()
        try await withNetwork(configure: { $0.connectTimeout = .seconds(3600) }) { network in
            let port = silent.address.port
            let listener = try network.bind(try SocketAddress(host: "127.0.0.2", port: port))
            async let accepted = listener.accept()
            let client = try await bounded("a dial past a silent address", seconds: 120) {
                try await network.dial(host: "two.test", port: port, deadline: nil) { _, _ in
                    .success([try! SocketAddress(host: "127.0.0.1", port: 0), try! SocketAddress(host: "127.0.0.2", port: 0)])
                }
            }
            let server = try await accepted
            try await client.sink.send([1])
            #expect(try await server.stream.receive(exactly: 1) == [1])
        }
    }

    /// A resolver that never answers for IPv6 (a DNS server that drops AAAA
    /// queries) does not hold the dial: the IPv4 address is dialed once the
    /// resolution delay has passed, with no deadline, while the IPv6 lookup
    /// still blocks its thread.
    @Test func aFamilyWhoseLookupNeverEndsDoesNotHoldTheDial() async throws {
        let silentIPv6 = BlockedLookup()
        defer { silentIPv6.release() }
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            async let accepted = listener.accept()
            let blocked = silentIPv6.run
            let client = try await bounded("a dial whose IPv6 lookup hangs", seconds: 300) {
                try await network.dial(host: "half.test", port: listener.localAddress.port, deadline: nil) { host, family in
                    family == AF_INET6 ? blocked(host) : .success([try! SocketAddress(host: "127.0.0.1", port: 0)])
                }
            }
            let server = try await accepted
            #expect(silentIPv6.started)
            try await client.sink.send([6, 4])
            #expect(try await server.stream.receive(exactly: 2) == [6, 4])
        }
    }

    /// The whole dial's deadline bounds the lookup too.
    @Test func dialByNameEndsAtItsDeadlineDuringTheLookup() async throws {
        let lookup = BlockedLookup()
        defer { lookup.release() }
        try await withNetwork { network in
            let error = await #expect(throws: IOError.self) {
                _ = try await bounded("a dial whose lookup hangs", seconds: 300) {
                    try await network.dial(host: "slow.test", port: 1, deadline: .now + .milliseconds(100), lookup: lookup.perFamily)
                }
            }
            #expect(error?.reason == .timedOut)
        }
    }
}

/// A stand-in lookup that blocks its thread until released.
private final class BlockedLookup: Sendable {
    private let startedFlag = Atomic<Bool>(false)
    private let released = Atomic<Bool>(false)

    var started: Bool { startedFlag.load(ordering: .acquiring) }

    func release() { released.store(true, ordering: .releasing) }

    var run: @Sendable (String) -> Result<[SocketAddress], IOError> {
        { [self] _ in
            startedFlag.store(true, ordering: .releasing)
            while !released.load(ordering: .acquiring) { usleep(1_000) }
            return .success([try! SocketAddress(host: "10.0.0.1", port: 0)])
        }
    }

    /// `run` as one family's lookup, for `Network.dial(host:)`.
    var perFamily: @Sendable (String, Int32) -> Result<[SocketAddress], IOError> {
        let run = run
        return { host, _ in run(host) }
    }
}
