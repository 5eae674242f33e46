// The accept loop every server needs, done once: a child task per
// connection, on the connection's loop when there is one to run on, and
// accepts that go on through the failures a busy server meets.
//
// Invariants:
// - every accepted connection is closed once its handler is done, however
//   it ends (returned, threw, cancelled);
// - handlers are children of `serve`'s discarding task group: `serve` does
//   not return while one runs, cancelling `serve` cancels them all, and a
//   finished handler keeps nothing alive (a plain task group would hold
//   every finished child until it is awaited: memory that grows with each
//   connection of a long-running server).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing
import URingLoop

extension Listener {
    /// Accepts connections and serves each with `handler` in a child task
    /// of its own, until the listener is closed, its network shut down or
    /// the calling task cancelled; then returns once every handler has.
    ///
    /// On a network running on a `LoopGroup`, each handler runs on its
    /// connection's loop (its `executor`), where every send and receive is
    /// submitted without crossing threads; on a network's own loops, and
    /// with `handlersOnLoops: false` (for a group installed as the global
    /// executor, which places plain tasks itself), handlers are plain tasks.
    ///
    /// A connection is closed when its handler returns or throws; a
    /// handler's error ends that connection only (catch it inside to act on
    /// it). A failed accept that concerns one peer or a passing shortage
    /// (`ECONNABORTED`, `EPROTO`, `EPERM`, `EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`) is skipped after a pause, 10 ms doubling to a second while
    /// failures continue, so the server keeps serving; `close()`, a cancel
    /// or a shutdown of the network (or its group) ends a pause within 10 ms.
    ///
    /// - Throws: any other accept failure, after the handlers still running
    ///   have returned (cancel the calling task not to wait for them).
    public func serve(
        handlersOnLoops: Bool = true,
        _ handler: @escaping @Sendable (_ peer: SocketAddress, _ sink: Sink, _ stream: Stream) async throws -> Void
    ) async throws {
        try await serve(handlersOnLoops: handlersOnLoops, pausingAcceptsFrom: Listener.firstAcceptPause,
                        upTo: Listener.longestAcceptPause, handler)
    }

    /// `serve` with the pauses after failed accepts chosen (this package's
    /// tests: a pause longer than any test, to show what ends it).
    package func serve(
        handlersOnLoops: Bool,
        pausingAcceptsFrom firstPause: Duration,
        upTo longestPause: Duration,
        _ handler: @escaping @Sendable (_ peer: SocketAddress, _ sink: Sink, _ stream: Stream) async throws -> Void
    ) async throws {
        let onLoops = handlersOnLoops && network.group != nil
        var failure: (any Error)?
        await withDiscardingTaskGroup { group in
            var pause = firstPause
            while !Task.isCancelled {
                let peer: SocketAddress, sink: Sink, stream: Stream
                do {
                    (peer, sink, stream) = try await accept()
                    pause = firstPause
                } catch {
                    if isClosed || Task.isCancelled || (error as? IOError)?.reason == .shutdown { break }
                    guard Listener.isTransient(error) else {
                        failure = error
                        break
                    }
                    await pauseAccepts(for: pause)
                    pause = min(pause * 2, longestPause)
                    continue
                }
                let serveOne: @Sendable () async -> Void = {
                    defer { sink.close() }
                    try? await handler(peer, sink, stream)
                }
                // A nil preference still marks a task as having one, which
                // costs a runtime lock at every hop: plain tasks get none.
                if onLoops {
                    group.addTask(executorPreference: stream.executor, operation: serveOne)
                } else {
                    group.addTask(operation: serveOne)
                }
            }
        }
        if let failure { throw failure }
    }

    static let firstAcceptPause: Duration = .milliseconds(10)
    static let longestAcceptPause: Duration = .seconds(1)
    /// How often a pause looks for a close or a shutdown.
    static let acceptPauseSlice: Duration = .milliseconds(10)

    /// Waits `pause`, or less once the listener is closed, the network (or
    /// the group it runs on) shuts down or the task is cancelled (each
    /// noticed within a slice).
    ///
    /// Slices of plain sleeps, not a sleep raced against a close signal in
    /// a task group (which once hung under the test suite's load, cause
    /// not found): slices leave nothing to race, and a pause only follows
    /// failed accepts, so their wake-ups cost nothing.
    private func pauseAccepts(for pause: Duration) async {
        let end = ContinuousClock.now + pause
        while !isClosed && !network.isShutDown && !Task.isCancelled {
            let left = end - ContinuousClock.now
            guard left > .zero else { return }
            try? await Task.sleep(for: min(left, Listener.acceptPauseSlice))
        }
    }

    /// Whether a failed accept concerns one connection or a passing
    /// shortage, so accepting again later can succeed.
    static func isTransient(_ error: any Error) -> Bool {
        guard let code = (error as? IOError)?.errno else { return false }
        return [ECONNABORTED, EPROTO, EPERM, EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code)
    }
}
