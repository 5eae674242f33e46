// A hang guard for work that cannot be cancelled (a server's stop, a join):
// the test fails after a bound instead of the whole run hanging.
//
// A task group cannot do this: it waits for every child before returning,
// so a child that never returns holds it forever. Here the work runs in a
// task of its own, and whichever of it and the timer finishes first resumes
// the caller (the other finds the continuation already claimed).
import Synchronization

/// The bound passed before `what` finished.
public struct BoundExceeded: Error, CustomStringConvertible {
    public let what: String
    public let seconds: Int
    public var description: String { "\(what) did not finish within \(seconds) s" }

    public init(what: String, seconds: Int) {
        self.what = what
        self.seconds = seconds
    }
}

/// Runs `body` and returns its result, or throws `BoundExceeded` once
/// `seconds` have passed without it (the body's task is then left running).
public func bounded<T: Sendable>(
    _ what: String, seconds: Int, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let claimed = ClaimOnce()
    return try await withCheckedThrowingContinuation { continuation in
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            if !Task.isCancelled && claimed.claim() {
                continuation.resume(throwing: BoundExceeded(what: what, seconds: seconds))
            }
        }
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            if claimed.claim() {
                timer.cancel()
                continuation.resume(with: result)
            }
        }
    }
}

/// True for the first caller only: who resumes the shared continuation.
private final class ClaimOnce: Sendable {
    private let taken = Atomic<Bool>(false)
    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
