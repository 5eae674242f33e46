// How `uring echo-server` waits for the first of SIGINT, SIGTERM and the end
// of its input.
import Dispatch

/// Resumes once, whichever source fires first; keeps the sources alive.
/// `@unchecked Sendable`: `continuation` is touched only by `fire`, which runs
/// on the one serial queue of every source; `sources` only during setup, by
/// the caller.
final class TerminationLatch: @unchecked Sendable {
    private var continuation: CheckedContinuation<Void, Never>?
    private var sources: [any DispatchSourceProtocol] = []

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
    }

    func keep(_ source: any DispatchSourceProtocol) { sources.append(source) }

    func fire() {
        continuation?.resume()
        continuation = nil
    }
}
