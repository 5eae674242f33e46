// The staggered race behind `Network.dial(host:port:)` (RFC 8305), with
// scripted attempts in place of sockets: each address connects, fails or
// hangs when the test says, so overtaking, cancelling and discarding can be
// watched exactly. (ResolveTests dials real sockets through it.)
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct ConnectionRaceTests {
    @Test func theFirstAddressToConnectWinsAndNoOtherStarts() async throws {
        let script = Script(["a": .connect(after: .zero), "b": .connect(after: .zero)])
        let winner = try await script.race(delay: .seconds(10))
        #expect(winner == "a")
        #expect(script.started == ["a"])
    }

    @Test func aSilentAddressIsOvertakenAfterTheDelayThenCancelled() async throws {
        let script = Script(["a": .hang, "b": .connect(after: .zero)])
        let start = ContinuousClock.now
        let winner = try await script.race(delay: .milliseconds(50))
        #expect(winner == "b")
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        try await script.waitUntil("a was cancelled") { $0.cancelled == ["a"] }
        #expect(script.discarded.isEmpty)
    }

    /// An attempt overtaken is not given up: when it connects first, it wins.
    @Test func anOvertakenAttemptKeepsTryingAndCanStillWin() async throws {
        let gate = Gate()
        let script = Script(["a": .connectWhenOpen(gate, ignoringCancel: false), "b": .hang, "c": .hang])
        async let winner = script.race(delay: .milliseconds(20))
        try await script.waitUntil("all three started") { $0.started.count == 3 }
        gate.open()
        #expect(try await winner == "a")
        try await script.waitUntil("b and c were cancelled") { Set($0.cancelled) == ["b", "c"] }
    }

    @Test func aFailureStartsTheNextAddressAtOnce() async throws {
        // Waiting for the delay instead would run into the race's hang guard.
        let script = Script(["a": .fail(after: .zero, .errno(ECONNREFUSED)), "b": .connect(after: .zero)])
        #expect(try await script.race(delay: .seconds(3600)) == "b")
        #expect(script.started == ["a", "b"])
    }

    @Test func whenEveryAddressFailsTheLastFailureSaysHowManyWereTried() async throws {
        let script = Script(["a": .fail(after: .zero, .errno(ECONNREFUSED)),
                             "b": .fail(after: .milliseconds(20), .errno(ENETUNREACH))])
        let error = await #expect(throws: IOError.self) { _ = try await script.race(delay: .seconds(60)) }
        #expect(error?.errno == ENETUNREACH, "\(String(describing: error))")
        #expect(error?.context?.hasPrefix("h.test port 7, all 2 of its addresses tried") == true, "\(String(describing: error))")

        let one = Script(["a": .fail(after: .zero, .errno(ECONNREFUSED))])
        let alone = await #expect(throws: IOError.self) { _ = try await one.race(delay: .seconds(60)) }
        #expect(alone?.context?.hasPrefix("h.test port 7, its one address tried") == true, "\(String(describing: alone))")
    }

    /// Overtaken attempts that fail while a later one still tries leave the
    /// race to it.
    @Test func earlierFailuresWaitForTheLastAttempt() async throws {
        let script = Script(["a": .fail(after: .milliseconds(30), .timedOut),
                             "b": .connect(after: .milliseconds(60))])
        #expect(try await script.race(delay: .milliseconds(10)) == "b")
    }

    @Test func aConnectionMadeAfterAnotherWonIsDiscarded() async throws {
        let late = Gate()
        let script = Script(["a": .connectWhenOpen(late, ignoringCancel: true), "b": .connect(after: .zero)])
        #expect(try await script.race(delay: .milliseconds(10)) == "b")
        late.open()
        try await script.waitUntil("a's late connection was discarded") { $0.discarded == ["a"] }
    }

    @Test func cancellingTheCallerCancelsEveryAttempt() async throws {
        let script = Script(["a": .hang, "b": .hang])
        let caller = Task { try await script.run(delay: .milliseconds(10)) }
        try await script.waitUntil("both started") { $0.started.count == 2 }
        caller.cancel()
        await #expect(throws: CancellationError.self) {
            _ = try await bounded("the cancelled race", seconds: Script.hangGuard) { try await caller.value }
        }
        try await script.waitUntil("both were cancelled") { Set($0.cancelled) == ["a", "b"] }
    }

    @Test func aCallerCancelledBeforeTheRaceStartsNothing() async throws {
        let script = Script(["a": .connect(after: .zero)])
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await script.run(delay: .milliseconds(10))
        }
        await #expect(throws: CancellationError.self) {
            _ = try await bounded("the cancelled race", seconds: Script.hangGuard) { try await caller.value }
        }
        #expect(script.started.isEmpty)
    }

    @Test func aShutdownEndsTheRaceWithoutTryingFurther() async throws {
        let script = Script(["a": .fail(after: .zero, .shutdown), "b": .connect(after: .zero)])
        let error = await #expect(throws: IOError.self) { _ = try await script.race(delay: .seconds(60)) }
        #expect(error?.reason == .shutdown)
        #expect(error?.context?.hasPrefix("h.test port 7, 1 of its 2 addresses tried") == true, "\(String(describing: error))")
        #expect(script.started == ["a"])
    }

    @Test func aFailurePastTheDeadlineEndsTheRace() async throws {
        let script = Script(["a": .fail(after: .milliseconds(60), .timedOut), "b": .connect(after: .zero)])
        let error = await #expect(throws: IOError.self) {
            _ = try await script.race(delay: .seconds(60), deadline: .now + .milliseconds(30))
        }
        #expect(error?.reason == .timedOut)
        #expect(script.started == ["a"])
    }

    /// Many races with random timings: each caller is resumed once (a
    /// checked continuation traps on a second), and every connection made
    /// is either the one returned or discarded, exactly once.
    @Test func everyConnectionMadeIsReturnedOrDiscardedOnce() async throws {
        var generator = SystemRandomNumberGenerator()
        var races: [(script: Script, won: Bool)] = []
        for round in 0..<200 {
            var steps: [String: Script.Step] = [:]
            for name in ["a", "b", "c"] {
                let after = Duration.microseconds(Int.random(in: 0...3_000, using: &generator))
                steps[name] = switch Int.random(in: 0..<3, using: &generator) {
                case 0: .connect(after: after)
                case 1: .connectIgnoringCancel(after: after)
                default: .fail(after: after, .errno(ECONNREFUSED))
                }
            }
            let script = Script(steps)
            let caller = Task { try await script.run(delay: .milliseconds(1)) }
            if round % 4 == 0 {
                try await Task.sleep(for: .microseconds(Int.random(in: 0...2_000, using: &generator)))
                caller.cancel()
            }
            let outcome = try await bounded("a race", seconds: Script.hangGuard) { await caller.result }
            races.append((script, (try? outcome.get()) != nil))
        }
        #expect(races.contains { $0.won } && races.contains { !$0.won })
        for (script, won) in races {
            try await script.waitUntil("each connection made is returned or discarded") {
                $0.connected.count == (won ? 1 : 0) + $0.discarded.count
            }
            #expect(Set(script.discarded).count == script.discarded.count)
        }
    }

    @Test func addressesAlternateFamiliesStartingWithTheFirst() throws {
        let v6 = try ["::1", "::2", "::3"].map { try SocketAddress(host: $0, port: 1) }
        let v4 = try ["10.0.0.1", "10.0.0.2"].map { try SocketAddress(host: $0, port: 1) }
        let ordered = SocketAddress.attemptOrder([v6[0], v6[1], v4[0], v6[2], v4[1]])
        #expect(ordered.map(\.host) == ["::1", "10.0.0.1", "::2", "10.0.0.2", "::3"])
        #expect(SocketAddress.attemptOrder([v4[1], v6[0], v4[0]]).map(\.host) == ["10.0.0.2", "::1", "10.0.0.1"])
        #expect(SocketAddress.attemptOrder(v4).map(\.host) == ["10.0.0.1", "10.0.0.2"])
        #expect(SocketAddress.attemptOrder([]).isEmpty)
    }

    @Test func anAttemptDelayUnderTenMillisecondsIsRefused() {
        var configuration = NetworkConfiguration()
        configuration.connectionAttemptDelay = .milliseconds(5)
        #expect(throws: IOError.self) { _ = try Network(configuration: configuration) }
    }
}

/// What each address of a race does, and what happened to it.
private final class Script: Sendable {
    enum Step: Sendable {
        case connect(after: Duration)
        /// Connects after the time even if cancelled meanwhile (a handshake
        /// that completed as the cancel came).
        case connectIgnoringCancel(after: Duration)
        /// Connects once the gate opens; with `ignoringCancel`, even if
        /// cancelled meanwhile.
        case connectWhenOpen(Gate, ignoringCancel: Bool)
        case fail(after: Duration, IOError.Reason)
        /// Until cancelled.
        case hang
    }

    struct Record {
        var started: [String] = []
        var cancelled: [String] = []
        var connected: [String] = []
        var discarded: [String] = []
    }

    private let steps: [String: Step]
    private let record = Locked(Record())

    init(_ steps: [String: Step]) {
        self.steps = steps
    }

    var started: [String] { record.withLock { $0.started } }
    var cancelled: [String] { record.withLock { $0.cancelled } }
    var connected: [String] { record.withLock { $0.connected } }
    var discarded: [String] { record.withLock { $0.discarded } }

    /// How long a race or a wait may take before the test fails instead of
    /// hanging the run. A race ends in milliseconds on its own, but under
    /// ThreadSanitizer, with every network test sharing the pool's two
    /// threads, a trivial test has waited 30 s for its turn.
    static let hangGuard = 300

    /// Races the addresses in name order and returns the winner's name.
    /// (In a task of its own, for the hang guard: cancel tests use `run`.)
    func race(delay: Duration, deadline: ContinuousClock.Instant? = nil) async throws -> String {
        try await bounded("a race", seconds: Self.hangGuard) { try await self.run(delay: delay, deadline: deadline) }
    }

    /// The race itself, in the caller's task. Each address is a distinct
    /// loopback address whose last byte is its name's place ("a": 127.0.0.1).
    func run(delay: Duration, deadline: ContinuousClock.Instant? = nil) async throws -> String {
        let names = steps.keys.sorted()
        let addresses = try names.indices.map { try SocketAddress(host: "127.0.0.\($0 + 1)", port: 7) }
        return try await ConnectionRace<String>.run(
            addresses, delay: delay, deadline: deadline, label: "h.test port 7",
            attempt: { address in try await self.attempt(names[Int(address.host.split(separator: ".").last!)! - 1]) },
            discard: { name in self.record.withLock { $0.discarded.append(name) } })
    }

    private func attempt(_ name: String) async throws -> String {
        record.withLock { $0.started.append(name) }
        do {
            switch steps[name]! {
            case .connect(let after):
                try await Task.sleep(for: after)
            case .connectIgnoringCancel(let after):
                try? await Task.sleep(for: after)
            case .connectWhenOpen(let gate, let ignoringCancel):
                if ignoringCancel {
                    // Suspended, not polling: a cancelled task's sleep returns at
                    // once, and blocking instead would take one of the pool's
                    // two threads from every other test until the gate opens.
                    await gate.wait()
                } else {
                    while !gate.isOpen { try await Task.sleep(for: .milliseconds(1)) }
                }
            case .fail(let after, let reason):
                try await Task.sleep(for: after)
                throw IOError("connect", reason)
            case .hang:
                try await Task.sleep(for: .seconds(3600))
            }
        } catch is CancellationError {
            record.withLock { $0.cancelled.append(name) }
            throw CancellationError()
        }
        record.withLock { $0.connected.append(name) }
        return name
    }

    /// Polls (a millisecond apart, within the hang guard) until `condition`
    /// holds of the record.
    func waitUntil(_ what: String, _ condition: (Record) -> Bool) async throws {
        let patience = ContinuousClock.now + .seconds(Self.hangGuard)
        while !record.withLock({ condition($0) }) {
            try #require(ContinuousClock.now < patience, "never: \(what)")
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// Lets a scripted attempt connect once the test says so.
private final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    var isOpen: Bool { state.withLock { $0.isOpen } }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until `open`, cancelled or not.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if open { continuation.resume() }
        }
    }
}
