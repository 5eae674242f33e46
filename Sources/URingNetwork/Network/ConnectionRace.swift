// Dialing a host's addresses as a staggered race ("Happy Eyeballs", RFC 8305).
//
// Trying addresses one after another lets one that never answers (a dead
// IPv6 route, a host that drops the handshake) hold the dial for its whole
// timeout. Here attempts start in order, each next one as soon as the one
// before it failed or `delay` after it started, whichever comes first;
// attempts already running keep going. The first to connect wins, the
// others are cancelled, and one that connects anyway is handed to `discard`
// (closed), never leaked.
//
// Invariants:
// - the caller's continuation is resumed exactly once, by `finish`, under the
//   lock: with the first connection, with the failure that leaves nothing
//   running and nothing to start, with a failure that ends the dial early
//   (`endsTheRace`: a shutdown, the deadline), or with the caller's cancel.
//   An outcome that comes before the continuation is installed (a cancel)
//   waits in `early` for `install` to deliver; no other outcome is kept,
//   so the race holds no connection once it has handed it over. (A checked continuation: a dial
//   costs a handshake or more, and a second resume would trap.)
// - after `finish` nothing starts; every attempt still running is cancelled,
//   and each connection returned afterwards goes to `discard` exactly once.
// - attempts start in order, each exactly once: whether one is due and its
//   start are decided in one step under the lock, and a delay timer starts
//   attempt `i` only if `i` is still the next (a failure may have started
//   it already).
import URing
import URingLoop

final class ConnectionRace<Connection: Sendable>: Sendable {
    typealias Attempt = @Sendable (SocketAddress) async throws -> Connection

    private struct State {
        var continuation: CheckedContinuation<Connection, any Error>?
        var finished = false
        /// An outcome that came before `continuation` was installed.
        var early: Result<Connection, any Error>?
        /// How many attempts have started: the next one's index.
        var started = 0
        var running: [Int: Task<Void, Never>] = [:]
        /// Starts the next attempt `delay` after the latest one started.
        var timer: Task<Void, Never>?
    }

    private let addresses: [SocketAddress]
    private let delay: Duration
    private let deadline: ContinuousClock.Instant?
    /// Names the dial in a failure's context ("db.internal port 5432").
    private let label: String
    private let attempt: Attempt
    private let discard: @Sendable (Connection) -> Void
    private let state = Locked(State())

    /// What a failed attempt leads to, decided under the lock.
    private enum AfterFailure {
        case nothing
        /// The next attempt started; cancel the timer it replaced.
        case cancel(Task<Void, Never>?)
        case end(any Error)
    }

    private init(addresses: [SocketAddress], delay: Duration, deadline: ContinuousClock.Instant?, label: String,
                 attempt: @escaping Attempt, discard: @escaping @Sendable (Connection) -> Void) {
        self.addresses = addresses
        self.delay = delay
        self.deadline = deadline
        self.label = label
        self.attempt = attempt
        self.discard = discard
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
        let race = ConnectionRace(addresses: addresses, delay: delay, deadline: deadline, label: label,
                                  attempt: attempt, discard: discard)
        return try await withTaskCancellationHandler {
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

    /// Starts the first attempt (the caller's continuation is installed).
    private func start() {
        state.withLock { startNext(&$0) }?.cancel()
    }

    /// Starts the next attempt, and the timer that starts the one after it,
    /// unless the race is over or every address has been tried. Called
    /// under the lock, so deciding to start and starting are one step (a
    /// failure and a timer that both find attempt `i` due start it once);
    /// returns the previous timer, for the caller to cancel after unlocking.
    private func startNext(_ state: inout State) -> Task<Void, Never>? {
        guard !state.finished, state.started < addresses.count else { return nil }
        let index = state.started
        state.started += 1
        // In `running` before it can end: its end takes this lock.
        state.running[index] = Task { [self] in
            let result: Result<Connection, any Error>
            do { result = .success(try await attempt(addresses[index])) } catch { result = .failure(error) }
            attemptEnded(index, result)
        }
        let stale = state.timer
        state.timer = nil
        if state.started < addresses.count {
            let following = state.started
            state.timer = Task { [self] in
                try? await Task.sleep(for: delay)
                guard !Task.isCancelled else { return }
                delayElapsed(before: following)
            }
        }
        return stale
    }

    /// `delay` passed since the latest attempt started: start the next,
    /// unless a failure already did.
    private func delayElapsed(before index: Int) {
        state.withLock { state in state.started == index ? startNext(&state) : nil }?.cancel()
    }

    private func attemptEnded(_ index: Int, _ result: Result<Connection, any Error>) {
        switch result {
        case .success(let connection):
            if !finish(.success(connection)) { discard(connection) }
        case .failure(let error):
            let next = state.withLock { state -> AfterFailure in
                state.running[index] = nil
                guard !state.finished else { return .nothing }
                if endsTheRace(error) { return .end(labelled(error, tried: state.started)) }
                if state.started < addresses.count { return .cancel(startNext(&state)) }
                if state.running.isEmpty { return .end(labelled(error, tried: state.started)) }
                return .nothing  // earlier attempts are still trying
            }
            switch next {
            case .nothing: break
            case .cancel(let staleTimer): staleTimer?.cancel()
            case .end(let failure): finish(.failure(failure))
            }
        }
    }

    /// Whether a failed attempt ends the dial rather than making room for
    /// the next address: the network shut down, or the deadline passed.
    private func endsTheRace(_ error: any Error) -> Bool {
        if error is CancellationError || (error as? IOError)?.reason == .shutdown { return true }
        if let deadline, ContinuousClock.now >= deadline { return true }
        return false
    }

    private func labelled(_ error: any Error, tried: Int) -> any Error {
        let tried = switch (tried, addresses.count) {
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
            var losers = Array(state.running.values)
            state.running.removeAll()
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
