// Helpers shared by the raw-ring tests: wait on the ring, never sleep.
import CURing
import Glibc
import Testing
import URing
import URingTestSupport

extension Ring {
    /// Submits and blocks until `count` completions were reaped; returns them in order.
    func complete(_ count: Int) throws -> [CompletionEntry] {
        var collected: [CompletionEntry] = []
        while collected.count < count {
            switch try submitAndWait(want: 1, timeout: .seconds(10)) {
            case .timedOut: Issue.record("no completion within 10 s"); return collected
            case .submitted, .retry: break
            }
            completionQueue.forEach { collected.append($0) }
        }
        return collected
    }
}
