// Dialing a host by name as a race ("Happy Eyeballs", RFC 8305).
//
// Resolving: one lookup per family, side by side (section 3), so a resolver
// slow to answer for one family (a DNS server that drops AAAA queries) does
// not hold the dial. Attempts start as soon as IPv6 addresses come, or
// `resolutionDelay` after IPv4 ones came first, which gives IPv6 its chance
// to lead; addresses that come later join those not tried yet.
//
// Connecting: attempts start in order, the families alternating, each next
// one as soon as the one before it failed or `delay` after it started,
// whichever comes first; attempts already running keep going. The first to
// connect wins, the other attempts and lookups are cancelled, and a
// connection made anyway is handed to `discard` (closed), never leaked. The
// dial fails once nothing runs, nothing is left to try and no lookup can
// bring more.
//
// Invariants:
// - the caller's continuation is resumed exactly once, by `finish`, under the
//   lock: with the first connection, with a failure once nothing is running,
//   left to try or still being looked up, with a failure that ends the dial
//   early (`endsTheRace`: a shutdown, the deadline), or with the caller's
//   cancel. An outcome that comes before the continuation is installed (a
//   cancel) waits in `early` for `install` to deliver; no other outcome is
//   kept, so the race holds no connection once it has handed it over. (A
//   checked continuation: a dial costs a handshake or more, and a second
//   resume would trap.)
// - after `finish` nothing starts; every attempt and lookup still running is
//   cancelled, and each connection returned afterwards goes to `discard`
//   exactly once.
// - attempts start in order, each exactly once: whether one is due and its
//   start are decided in one step under the lock (`advance`), and a timer
//   acts only while it is the current one (`timerGeneration`), so a failure
//   and a timer that both find an attempt due start it once.
// - addresses before `started` never move: a lookup that answers late
//   reorders only the ones not tried yet.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing
import URingLoop

final class ConnectionRace<Connection: Sendable>: Sendable {
    typealias Attempt = @Sendable (SocketAddress) async throws -> Connection

    /// One family's lookup, run beside the other family's.
    struct Lookup: Sendable {
        /// `AF_INET6` or `AF_INET`: the first attempt waits a little for IPv6.
        let family: Int32
        /// The family's addresses, ports set; none, or a failure, leaves the
        /// race to the other family's.
        let run: @Sendable () async throws -> [SocketAddress]
    }

    /// How long addresses of IPv4 wait for IPv6 ones before the first
    /// attempt (RFC 8305's recommended Resolution Delay).
    static var resolutionDelay: Duration { .milliseconds(50) }

    private struct State {
        var continuation: CheckedContinuation<Connection, any Error>?
        var finished = false
        /// An outcome that came before `continuation` was installed.
        var early: Result<Connection, any Error>?
        /// In attempt order: those before `started` have started, the rest wait.
        var addresses: [SocketAddress]
        /// How many attempts have started: the next one's index.
        var started = 0
        var latestStart = ContinuousClock.now
        /// The next attempt starts as soon as it has an address: the delay
        /// after the latest start passed, or an attempt failed while no
        /// address was left to try.
        var nextIsDue = false
        var running: [Int: Task<Void, Never>] = [:]
        var lookups: [Int: Task<Void, Never>] = [:]
        /// An IPv6 lookup runs and has not answered: the first attempt waits
        /// for it up to the resolution delay.
        var awaitingIPv6 = false
        var resolutionDelayPassed = false
        /// Starts the next attempt `delay` after the latest started (before
        /// the first, ends the resolution delay); only the current one acts.
        var timer: Task<Void, Never>?
        var timerGeneration = 0
        var latestAttemptFailure: (any Error)?
        var lookupFailures: [any Error] = []

        init(addresses: [SocketAddress]) {
            self.addresses = addresses
        }
    }

    /// What a change of state leads to, decided under the lock and done
    /// after it.
    private enum Step {
        case nothing
        /// Cancel a timer that was replaced.
        case cancel(Task<Void, Never>?)
        case end(any Error)
    }

    private let lookups: [Lookup]
    private let resolutionDelay: Duration
    private let delay: Duration
    private let deadline: ContinuousClock.Instant?
    /// Names the dial in a failure's context ("db.internal port 5432").
    private let label: String
    private let attempt: Attempt
    private let discard: @Sendable (Connection) -> Void
    private let state: Locked<State>

    private init(addresses: [SocketAddress], lookups: [Lookup], resolutionDelay: Duration, delay: Duration,
                 deadline: ContinuousClock.Instant?, label: String,
                 attempt: @escaping Attempt, discard: @escaping @Sendable (Connection) -> Void) {
        self.lookups = lookups
        self.resolutionDelay = resolutionDelay
        self.delay = delay
        self.deadline = deadline
        self.label = label
        self.attempt = attempt
        self.discard = discard
        state = Locked(State(addresses: addresses))
    }

    /// Connects to one of `addresses` (tried in this order, `delay` apart
    /// unless one fails sooner) and returns the first connection made.
    ///
    /// - Parameters:
    ///   - deadline: past it, a failed attempt ends the race instead of
    ///     making room for the next (`attempt` itself should honour it).
    ///   - attempt: one connection attempt; it must end when its task is
    ///     cancelled (with a connection it made anyway, or an error).
    ///   - discard: closes a connection made after another won.
    /// - Throws: when every address failed, the last failure, labelled
    ///   with `label` and how many addresses were tried; a shutdown or a
    ///   failure past `deadline` as it came, labelled the same way;
    ///   `CancellationError` when the calling task is cancelled.
    static func run(
        _ addresses: [SocketAddress], delay: Duration, deadline: ContinuousClock.Instant?, label: String,
        attempt: @escaping Attempt, discard: @escaping @Sendable (Connection) -> Void
    ) async throws -> Connection {
        guard !addresses.isEmpty else {
            throw IOError("connect", .notFound, context: "\(label): no address to try")
        }
        return try await run(ConnectionRace(addresses: addresses, lookups: [], resolutionDelay: .zero, delay: delay,
                                            deadline: deadline, label: label, attempt: attempt, discard: discard))
    }

    /// Looks the addresses up with `lookups`, side by side, and races them
    /// as they come, as `run(_:...)` does a list known in advance.
    ///
    /// - Throws: as `run(_:...)`; when no lookup found an address, the
    ///   first lookup failure other than `.notFound` (a resolver that did
    ///   not answer), else the first `.notFound`, else `.notFound`; a lookup
    ///   that failed past `deadline` ends the race with its failure.
    static func run(
        resolving lookups: [Lookup], resolutionDelay: Duration = resolutionDelay, delay: Duration,
        deadline: ContinuousClock.Instant?, label: String,
        attempt: @escaping Attempt, discard: @escaping @Sendable (Connection) -> Void
    ) async throws -> Connection {
        try await run(ConnectionRace(addresses: [], lookups: lookups, resolutionDelay: resolutionDelay, delay: delay,
                                     deadline: deadline, label: label, attempt: attempt, discard: discard))
    }

    private static func run(_ race: ConnectionRace) async throws -> Connection {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if race.install(continuation) { race.start() }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    // MARK: - Steps

    /// Hands `continuation` to whoever finishes; false if an outcome came
    /// first (the caller's cancel), which is then delivered at once.
    private func install(_ continuation: CheckedContinuation<Connection, any Error>) -> Bool {
        let early: Result<Connection, any Error>? = state.withLock { state in
            if !state.finished { state.continuation = continuation }
            defer { state.early = nil }
            return state.early
        }
        guard let early else { return true }
        continuation.resume(with: early)
        return false
    }

    /// Starts the lookups and, with addresses known, the first attempt (the
    /// caller's continuation is installed).
    private func start() {
        perform(state.withLock { state in
            guard !state.finished else { return .nothing }
            // In `lookups` before they can end: their end takes this lock.
            for (index, lookup) in lookups.enumerated() {
                state.lookups[index] = Task { [self] in
                    let result: Result<[SocketAddress], any Error>
                    do { result = .success(try await lookup.run()) } catch { result = .failure(error) }
                    lookupEnded(index, family: lookup.family, result)
                }
            }
            state.awaitingIPv6 = lookups.contains { $0.family == AF_INET6 }
            return advance(&state)
        })
    }

    /// Starts the next attempt if one is due and has an address, arms the
    /// timer that makes the one after it due, or ends the race when nothing
    /// is left to wait for.
    private func advance(_ state: inout State) -> Step {
        guard !state.finished else { return .nothing }
        if state.started < state.addresses.count {
            if state.started == 0 {
                if state.awaitingIPv6 && !state.resolutionDelayPassed {
                    if state.timer == nil { arm(&state, until: .now + resolutionDelay) }
                    return .nothing
                }
                return .cancel(startNext(&state))
            }
            if state.nextIsDue || state.running.isEmpty { return .cancel(startNext(&state)) }
            // The latest attempt started when it had no successor.
            if state.timer == nil { arm(&state, until: state.latestStart + delay) }
            return .nothing
        }
        guard state.running.isEmpty, state.lookups.isEmpty else { return .nothing }
        return .end(failure(state))
    }

    /// Starts attempt `started`, and the timer for the one after it when
    /// there is one; returns the timer it replaced, for the caller to
    /// cancel after unlocking.
    private func startNext(_ state: inout State) -> Task<Void, Never>? {
        let index = state.started
        let address = state.addresses[index]
        state.started += 1
        state.latestStart = .now
        state.nextIsDue = false
        // In `running` before it can end: its end takes this lock.
        state.running[index] = Task { [self] in
            let result: Result<Connection, any Error>
            do { result = .success(try await attempt(address)) } catch { result = .failure(error) }
            attemptEnded(index, result)
        }
        let stale = state.timer
        state.timer = nil
        state.timerGeneration += 1
        if state.started < state.addresses.count { arm(&state, until: state.latestStart + delay) }
        return stale
    }

    /// Replaces no timer: called only while none is armed.
    private func arm(_ state: inout State, until instant: ContinuousClock.Instant) {
        state.timerGeneration += 1
        let generation = state.timerGeneration
        state.timer = Task { [self] in
            try? await Task.sleep(until: instant, clock: .continuous)
            guard !Task.isCancelled else { return }
            timerFired(generation)
        }
    }

    private func timerFired(_ generation: Int) {
        perform(state.withLock { state in
            guard !state.finished, state.timerGeneration == generation else { return .nothing }
            state.timer = nil
            if state.started == 0 { state.resolutionDelayPassed = true } else { state.nextIsDue = true }
            return advance(&state)
        })
    }

    private func attemptEnded(_ index: Int, _ result: Result<Connection, any Error>) {
        switch result {
        case .success(let connection):
            if !finish(.success(connection)) { discard(connection) }
        case .failure(let error):
            perform(state.withLock { state in
                state.running[index] = nil
                guard !state.finished else { return .nothing }
                if endsTheRace(error) { return .end(labelled(error, state)) }
                state.latestAttemptFailure = error
                state.nextIsDue = true
                return advance(&state)
            })
        }
    }

    private func lookupEnded(_ index: Int, family: Int32, _ result: Result<[SocketAddress], any Error>) {
        perform(state.withLock { state in
            state.lookups[index] = nil
            guard !state.finished else { return .nothing }
            if family == AF_INET6 { state.awaitingIPv6 = false }
            switch result {
            case .success(let found):
                let untried = Array(state.addresses[state.started...]) + found
                // Alternate with the latest attempt's family; before the
                // first, IPv6 leads.
                let lead = state.started > 0
                    ? (state.addresses[state.started - 1].family == AF_INET6 ? AF_INET : AF_INET6)
                    : (untried.contains { $0.family == AF_INET6 } ? AF_INET6 : nil)
                state.addresses.replaceSubrange(state.started..., with: SocketAddress.attemptOrder(untried, startingWith: lead))
            case .failure(let error):
                if endsTheRace(error) { return .end(state.started > 0 ? labelled(error, state) : error) }
                state.lookupFailures.append(error)
            }
            return advance(&state)
        })
    }

    private func perform(_ step: Step) {
        switch step {
        case .nothing: break
        case .cancel(let timer): timer?.cancel()
        case .end(let failure): finish(.failure(failure))
        }
    }

    /// Whether a failure ends the dial rather than making room for the next
    /// address: the network shut down, or the deadline passed.
    private func endsTheRace(_ error: any Error) -> Bool {
        if error is CancellationError || (error as? IOError)?.reason == .shutdown { return true }
        if let deadline, ContinuousClock.now >= deadline { return true }
        return false
    }

    /// Why the race failed once nothing is left to wait for.
    private func failure(_ state: State) -> any Error {
        if let failure = state.latestAttemptFailure { return labelled(failure, state) }
        let reasons = state.lookupFailures.map { ($0 as? IOError)?.reason }
        if let index = reasons.firstIndex(where: { $0 != .notFound }) ?? reasons.indices.first {
            return state.lookupFailures[index]
        }
        return IOError("resolve", .notFound, context: "\(label): no IPv4 or IPv6 address")
    }

    private func labelled(_ error: any Error, _ state: State) -> any Error {
        let tried = switch (state.started, state.addresses.count) {
        case (1, 1): "its one address tried"
        case (let tried, let count) where tried == count: "all \(count) of its addresses tried"
        case (let tried, let count): "\(tried) of its \(count) addresses tried"
        }
        return IOError.labelling(error, with: "\(label), \(tried)")
    }

    /// Ends the race with `outcome` unless it has ended; returns whether
    /// this call ended it. Cancels what is still running.
    @discardableResult
    private func finish(_ outcome: Result<Connection, any Error>) -> Bool {
        let ended = state.withLock { state -> (CheckedContinuation<Connection, any Error>?, [Task<Void, Never>])? in
            guard !state.finished else { return nil }
            state.finished = true
            let continuation = state.continuation
            state.continuation = nil
            if continuation == nil { state.early = outcome }
            var losers = Array(state.running.values) + Array(state.lookups.values)
            state.running.removeAll()
            state.lookups.removeAll()
            if let timer = state.timer { losers.append(timer) }
            state.timer = nil
            return (continuation, losers)
        }
        guard let (continuation, losers) = ended else { return false }
        for task in losers { task.cancel() }
        continuation?.resume(with: outcome)
        return true
    }
}
