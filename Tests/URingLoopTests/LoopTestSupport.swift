// Helpers for loop tests: bounded waits (a lost wake fails with a message
// instead of hanging), descriptors, and the sanitizer-aware scale.
import CURing
import Glibc
import Synchronization
import Testing
import URing
@testable import URingLoop
import URingTestSupport

struct TestTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what) (a lost wake would look like this)" }
}

/// Runs `body`, failing with `TestTimeout` if it takes longer than `seconds`.
/// The bound guards against hangs, not slowness: it includes the time the
/// body waits for one of the concurrency pool's two threads, which the whole
/// suite shares and which under the sanitizers can be busy for half a
/// minute and more (CI runs under TSan saw one-minute bounds run out with
/// nothing hung), so tests give it five minutes. On time the body is
/// cancelled; one that ignores cancellation (a loop of `Task.yield()`
/// polling a counter) is left running, but the test fails on time instead
/// of hanging (see `bounded`). Cancelling the caller cancels the body.
func within<T: Sendable>(
    _ seconds: Int, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let work = Task { try await body() }
    return try await withTaskCancellationHandler {
        do {
            return try await bounded(what, seconds: seconds) { try await work.value }
        } catch is BoundExceeded {
            work.cancel()
            throw TestTimeout(what: what)
        }
    } onCancel: {
        work.cancel()
    }
}

/// A loop whose SQ and request capacity are both `size`, so tests can reach
/// its capacity with a few requests.
func smallLoop(size: UInt32 = 8, shutdownTimeout: Duration? = nil, tick: Duration = .milliseconds(1)) throws -> Handle {
    var configuration = LoopConfiguration()
    configuration.size = size
    configuration.requestCapacity = Int(size)
    configuration.shutdownTimeout = shutdownTimeout
    configuration.timeoutWheelTick = tick
    configuration.timeoutWheelHorizon = .seconds(30)
    return try IOLoop.start(configuration)
}

/// A shared counter that Sendable closures can capture.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.wrappingAdd(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A shared, locked list that Sendable closures can capture. (A pthread
/// lock, like the loop's: ThreadSanitizer cannot see Synchronization.Mutex.)
final class SharedList<Element: Sendable>: Sendable {
    private let items = Locked<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

/// A weak reference tasks can share. `@unchecked Sendable`: the reference
/// is read and written only under `lock`.
final class WeakBox<Object: AnyObject>: @unchecked Sendable {
    private let lock = Locked<Void>(())
    private weak var _object: Object?
    var object: Object? {
        get { lock.withLock { _ in _object } }
        set { lock.withLock { _ in _object = newValue } }
    }
}
