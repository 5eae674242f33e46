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
func within<T: Sendable>(
    _ seconds: Int, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let value = first else { throw TestTimeout(what: what) }
        return value
    }
}

func smallLoop(size: UInt32 = 8, shutdownTimeout: Duration? = nil, tick: Duration = .milliseconds(1)) throws -> Handle {
    var configuration = LoopConfiguration()
    configuration.size = size
    configuration.shutdownTimeout = shutdownTimeout
    configuration.timeoutWheelTick = tick
    configuration.maximumRequestTimeout = .seconds(30)
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
