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
        // A delay no attempt outlasts: a shorter one (this test had 10 s)
        // can pass before a starved pool runs the first attempt at all.
        let winner = try await script.race(delay: .seconds(3600))
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
        let latch = Latch()
        let script = Script(["a": .connectWhenOpen(latch, ignoringCancel: false), "b": .hang, "c": .hang])
        async let winner = script.race(delay: .milliseconds(20))
        try await script.waitUntil("all three started") { $0.started.count == 3 }
        latch.open()
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
        let late = Latch()
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

    @Test func everyConnectionMadeIsReturnedOrDiscardedOnce() async throws {
        try await raceAtRandom(["a", "b", "c"], lookingUp: false)
    }

    // MARK: Looking the addresses up (RFC 8305, section 3)

    /// IPv6 addresses start the race as soon as they come, without waiting
    /// for the IPv4 lookup, which is cancelled once the dial is won.
    @Test func anIPv6AnswerStartsTheRaceAtOnce() async throws {
        let script = Script(["v6a": .connect(after: .zero)],
                            lookups: [AF_INET6: .answer(after: .zero, ["v6a"]), AF_INET: .hang])
        #expect(try await script.race(delay: .seconds(3600)) == "v6a")
        try await script.waitUntil("the IPv4 lookup was cancelled") { $0.lookupsCancelled == [AF_INET] }
    }

    /// A resolver that never answers for IPv6 holds the dial for the
    /// resolution delay only.
    @Test func IPv4AddressesWaitTheResolutionDelayForIPv6Only() async throws {
        let script = Script(["a": .connect(after: .zero)],
                            lookups: [AF_INET6: .hang, AF_INET: .answer(after: .zero, ["a"])])
        let start = ContinuousClock.now
        #expect(try await script.race(delay: .seconds(3600), resolutionDelay: .milliseconds(50)) == "a")
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        try await script.waitUntil("the IPv6 lookup was cancelled") { $0.lookupsCancelled == [AF_INET6] }
    }

    /// IPv6 addresses that come within the resolution delay lead, though
    /// IPv4 ones came first.
    @Test func IPv6AnsweringWithinTheResolutionDelayLeads() async throws {
        let script = Script(["a": .connect(after: .zero), "v6b": .connect(after: .zero)],
                            lookups: [AF_INET6: .answer(after: .milliseconds(20), ["v6b"]), AF_INET: .answer(after: .zero, ["a"])])
        #expect(try await script.race(delay: .seconds(3600)) == "v6b")
        #expect(script.started == ["v6b"])
    }

    /// With addresses of both families known before the first attempt, the
    /// families alternate, IPv6 first.
    @Test func bothFamiliesAlternateIPv6First() async throws {
        let refused = Script.Step.fail(after: .zero, .errno(ECONNREFUSED))
        let script = Script(["c": refused, "d": refused, "v6a": refused, "v6b": refused],
                            lookups: [AF_INET6: .answer(after: .milliseconds(5), ["v6a", "v6b"]),
                                      AF_INET: .answer(after: .zero, ["c", "d"])])
        let error = await #expect(throws: IOError.self) { _ = try await script.race(delay: .seconds(3600)) }
        #expect(script.started == ["v6a", "c", "v6b", "d"])
        #expect(error?.context?.hasPrefix("h.test port 7, all 4 of its addresses tried") == true, "\(String(describing: error))")
    }

    /// Addresses a lookup brings after the race began join the untried
    /// ones, alternating with the latest attempt's family; and a race whose
    /// attempts all failed waits for a lookup still running.
    @Test func addressesThatComeLateJoinTheRace() async throws {
        let answer = Latch(), refuse = Latch()
        let script = Script(["a": .failWhenOpen(refuse), "b": .connect(after: .zero), "v6c": .connect(after: .zero)],
                            lookups: [AF_INET6: .answerWhenOpen(answer, ["v6c"]), AF_INET: .answer(after: .zero, ["a", "b"])])
        async let winner = script.race(delay: .seconds(3600), resolutionDelay: .milliseconds(10))
        try await script.waitUntil("a started") { $0.started == ["a"] }
        answer.open()
        try await script.waitUntil("the IPv6 lookup answered") { $0.answered.contains(AF_INET6) }
        refuse.open()
        #expect(try await winner == "v6c")
        #expect(script.started == ["a", "v6c"])

        let pending = Latch()
        let waiting = Script(["a": .fail(after: .zero, .errno(ECONNREFUSED)), "v6b": .connect(after: .zero)],
                             lookups: [AF_INET6: .answerWhenOpen(pending, ["v6b"]), AF_INET: .answer(after: .zero, ["a"])])
        async let late = waiting.race(delay: .seconds(3600), resolutionDelay: .milliseconds(10))
        try await waiting.waitUntil("a failed") { $0.failed == ["a"] }
        pending.open()
        #expect(try await late == "v6b")
    }

    /// With no address found, the resolver's failure: one that did not
    /// answer over a name not found, and not found when both found nothing.
    @Test func withNoAddressFoundTheLookupsFailureIsThrown() async throws {
        let again = Script([:], lookups: [AF_INET6: .fail(after: .zero, .notFound), AF_INET: .fail(after: .milliseconds(5), .errno(EAGAIN))])
        let unanswered = await #expect(throws: IOError.self) { _ = try await again.race(delay: .seconds(1)) }
        #expect(unanswered?.errno == EAGAIN, "\(String(describing: unanswered))")

        let none = Script([:], lookups: [AF_INET6: .fail(after: .zero, .notFound), AF_INET: .fail(after: .zero, .notFound)])
        let missing = await #expect(throws: IOError.self) { _ = try await none.race(delay: .seconds(1)) }
        #expect(missing?.reason == .notFound)
        #expect(missing?.context == "h.test", "\(String(describing: missing))")

        let empty = Script([:], lookups: [AF_INET6: .answer(after: .zero, []), AF_INET: .answer(after: .zero, [])])
        let nothing = await #expect(throws: IOError.self) { _ = try await empty.race(delay: .seconds(1)) }
        #expect(nothing?.reason == .notFound)
        #expect(nothing?.context == "h.test port 7: no IPv4 or IPv6 address", "\(String(describing: nothing))")
    }

    @Test func cancellingTheCallerDuringTheLookupsCancelsThem() async throws {
        let script = Script(["a": .connect(after: .zero)], lookups: [AF_INET6: .hang, AF_INET: .hang])
        let caller = Task { try await script.run(delay: .milliseconds(10)) }
        try await script.waitUntil("both lookups started") { $0.lookupsStarted.count == 2 }
        caller.cancel()
        await #expect(throws: CancellationError.self) {
            _ = try await bounded("the cancelled race", seconds: Script.hangGuard) { try await caller.value }
        }
        try await script.waitUntil("both lookups were cancelled") { Set($0.lookupsCancelled) == [AF_INET6, AF_INET] }
        #expect(script.started.isEmpty)
    }

    /// As `everyConnectionMadeIsReturnedOrDiscardedOnce`, with addresses
    /// that come while attempts run.
    @Test func racesWithLookupsReturnOrDiscardEveryConnectionOnce() async throws {
        try await raceAtRandom(["a", "b", "v6c", "v6d"], lookingUp: true)
    }

    @Test func addressesAlternateFamiliesStartingWithTheFirst() throws {
        let v6 = try ["::1", "::2", "::3"].map { try SocketAddress(host: $0, port: 1) }
        let v4 = try ["10.0.0.1", "10.0.0.2"].map { try SocketAddress(host: $0, port: 1) }
        let ordered = SocketAddress.attemptOrder([v6[0], v6[1], v4[0], v6[2], v4[1]])
        #expect(ordered.map(\.host) == ["::1", "10.0.0.1", "::2", "10.0.0.2", "::3"])
        #expect(SocketAddress.attemptOrder([v4[1], v6[0], v4[0]]).map(\.host) == ["10.0.0.2", "::1", "10.0.0.1"])
        #expect(SocketAddress.attemptOrder(v4).map(\.host) == ["10.0.0.1", "10.0.0.2"])
        #expect(SocketAddress.attemptOrder([]).isEmpty)
        #expect(SocketAddress.attemptOrder([v4[0], v6[0], v4[1]], startingWith: AF_INET6).map(\.host) == ["::1", "10.0.0.1", "10.0.0.2"])
        #expect(SocketAddress.attemptOrder(v4, startingWith: AF_INET6).map(\.host) == ["10.0.0.1", "10.0.0.2"])
    }

    /// 200 races of `names` whose attempts connect, connect though
    /// cancelled, or fail at random times, a quarter of them cancelled at a
    /// random time; with `lookingUp`, the addresses are looked up, each
    /// family at a random time (IPv6 finding none in half the races). Each
    /// caller is resumed once (a checked continuation traps on a second),
    /// and every connection made is either the one returned or discarded,
    /// exactly once.
    private func raceAtRandom(_ names: [String], lookingUp: Bool) async throws {
        var generator = SystemRandomNumberGenerator()
        var races: [(script: Script, won: Bool)] = []
        for round in 0..<200 {
            func after() -> Duration { .microseconds(Int.random(in: 0...3_000, using: &generator)) }
            var steps: [String: Script.Step] = [:]
            for name in names {
                steps[name] = switch Int.random(in: 0..<3, using: &generator) {
                case 0: .connect(after: after())
                case 1: .connectIgnoringCancel(after: after())
                default: .fail(after: after(), .errno(ECONNREFUSED))
                }
            }
            var lookups: [Int32: Script.LookupStep] = [:]
            if lookingUp {
                lookups[AF_INET] = .answer(after: after(), names.filter { !$0.hasPrefix("v6") })
                lookups[AF_INET6] = Bool.random(using: &generator)
                    ? .answer(after: after(), names.filter { $0.hasPrefix("v6") }) : .fail(after: after(), .notFound)
            }
            let script = Script(steps, lookups: lookups)
            let caller = Task { try await script.run(delay: .milliseconds(1), resolutionDelay: .milliseconds(1)) }
            if round % 4 == 0 {
                try await Task.sleep(for: after())
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
        /// Connects once the latch opens; with `ignoringCancel`, even if
        /// cancelled meanwhile.
        case connectWhenOpen(Latch, ignoringCancel: Bool)
        case fail(after: Duration, IOError.Reason)
        /// Fails with `ECONNREFUSED` once the latch opens.
        case failWhenOpen(Latch)
        /// Until cancelled.
        case hang
    }

    /// What one family's lookup does: answers with the addresses of the
    /// names given, fails or hangs.
    enum LookupStep: Sendable {
        case answer(after: Duration, [String])
        case answerWhenOpen(Latch, [String])
        case fail(after: Duration, IOError.Reason)
        /// Until cancelled.
        case hang
    }

    struct Record {
        var started: [String] = []
        var cancelled: [String] = []
        var connected: [String] = []
        var failed: [String] = []
        var discarded: [String] = []
        /// Families whose lookups started, answered, were cancelled.
        var lookupsStarted: [Int32] = []
        var answered: [Int32] = []
        var lookupsCancelled: [Int32] = []
    }

    private let steps: [String: Step]
    private let lookups: [Int32: LookupStep]
    private let names: [String]
    private let record = Locked(Record())

    /// Names starting with "v6" have IPv6 addresses (`::N`), the others IPv4
    /// ones (`127.0.0.N`), N being the name's place in name order. With
    /// `lookups` (by family), the race looks its addresses up; without, it
    /// is given them all, in name order.
    init(_ steps: [String: Step], lookups: [Int32: LookupStep] = [:]) {
        self.steps = steps
        self.lookups = lookups
        names = steps.keys.sorted()
    }

    var started: [String] { record.withLock { $0.started } }
    var cancelled: [String] { record.withLock { $0.cancelled } }
    var connected: [String] { record.withLock { $0.connected } }
    var discarded: [String] { record.withLock { $0.discarded } }
    var lookupsCancelled: [Int32] { record.withLock { $0.lookupsCancelled } }

    private func address(of name: String) -> SocketAddress {
        let place = names.firstIndex(of: name)! + 1
        return try! SocketAddress(host: name.hasPrefix("v6") ? "::\(place)" : "127.0.0.\(place)", port: 7)
    }

    private func name(of address: SocketAddress) -> String {
        names[Int(address.host.split { $0 == "." || $0 == ":" }.last!)! - 1]
    }

    /// How long a race or a wait may take before the test fails instead of
    /// hanging the run. A race ends in milliseconds on its own, but under
    /// ThreadSanitizer, with every network test sharing the pool's two
    /// threads, a trivial test has waited 30 s for its turn.
    static let hangGuard = 300

    /// Races the addresses in name order and returns the winner's name.
    /// (In a task of its own, for the hang guard: cancel tests use `run`.)
    func race(delay: Duration, resolutionDelay: Duration = .seconds(3600),
              deadline: ContinuousClock.Instant? = nil) async throws -> String {
        try await bounded("a race", seconds: Self.hangGuard) {
            try await self.run(delay: delay, resolutionDelay: resolutionDelay, deadline: deadline)
        }
    }

    /// The race itself, in the caller's task.
    func run(delay: Duration, resolutionDelay: Duration = .seconds(3600),
             deadline: ContinuousClock.Instant? = nil) async throws -> String {
        let attempt: @Sendable (SocketAddress) async throws -> String = { address in try await self.attempt(self.name(of: address)) }
        let discard: @Sendable (String) -> Void = { name in self.record.withLock { $0.discarded.append(name) } }
        guard !lookups.isEmpty else {
            return try await ConnectionRace<String>.run(
                names.map(address(of:)), delay: delay, deadline: deadline, label: "h.test port 7",
                attempt: attempt, discard: discard)
        }
        let lookups = lookups.keys.sorted(by: >).map { family in
            ConnectionRace<String>.Lookup(family: family) { try await self.lookUp(family) }
        }
        return try await ConnectionRace<String>.run(
            resolving: lookups, resolutionDelay: resolutionDelay, delay: delay, deadline: deadline, label: "h.test port 7",
            attempt: attempt, discard: discard)
    }

    private func lookUp(_ family: Int32) async throws -> [SocketAddress] {
        record.withLock { $0.lookupsStarted.append(family) }
        let answer: [String]
        do {
            switch lookups[family]! {
            case .answer(let after, let names):
                try await Task.sleep(for: after)
                answer = names
            case .answerWhenOpen(let latch, let names):
                await latch.wait()
                answer = names
            case .fail(let after, let reason):
                try await Task.sleep(for: after)
                throw IOError("resolve", reason, context: "h.test")
            case .hang:
                try await Task.sleep(for: .seconds(3600))
                answer = []
            }
        } catch is CancellationError {
            record.withLock { $0.lookupsCancelled.append(family) }
            throw CancellationError()
        }
        record.withLock { $0.answered.append(family) }
        return answer.map(address(of:))
    }

    private func attempt(_ name: String) async throws -> String {
        record.withLock { $0.started.append(name) }
        do {
            switch steps[name]! {
            case .connect(let after):
                try await Task.sleep(for: after)
            case .connectIgnoringCancel(let after):
                try? await Task.sleep(for: after)
            case .connectWhenOpen(let latch, let ignoringCancel):
                if ignoringCancel {
                    // Suspended, not polling: a cancelled task's sleep returns at
                    // once, and blocking instead would take one of the pool's
                    // two threads from every other test until the latch opens.
                    await latch.wait()
                } else {
                    while !latch.isOpen { try await Task.sleep(for: .milliseconds(1)) }
                }
            case .fail(let after, let reason):
                try await Task.sleep(for: after)
                record.withLock { $0.failed.append(name) }
                throw IOError("connect", reason)
            case .failWhenOpen(let latch):
                await latch.wait()
                record.withLock { $0.failed.append(name) }
                throw IOError("connect", .errno(ECONNREFUSED))
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
