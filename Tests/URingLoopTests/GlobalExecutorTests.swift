// A LoopGroup as the process's global executor. The takeover cannot be
// undone, so the checks run in a child process of their own
// (`GlobalExecutorProbe`, built beside this test binary); this test runs it
// and reads back which checks passed.
import Glibc
import Testing
import URingTestSupport

@Suite struct GlobalExecutorTests {
    /// Every check of the probe, in the order it runs them.
    static let checks = [
        "before-install-off-loops",
        "second-install-refused",
        "repeat-install-refused",
        "tasks-from-threads-on-loops",
        "tasks-spread-over-loops",
        "task-follows-its-io",
        "requests-submitted-directly",
        "task-follows-io-outside-the-group",
        "children-start-on-parents-loop",
        "actor-calls-all-counted",
        "actor-runs-on-loops",
        "sleep-then-back-on-loop",
        "cancel-mid-flight",
        "network-and-storage-across-a-group-shutdown",
        "acknowledged-writes-survive-the-shutdown",
        "shutdown-ends-every-task",
        "receives-end-once-across-shutdown",
        "actor-exclusion-across-shutdown",
        "after-shutdown-off-loops",
    ]

    @Test func ordinaryTasksRunOnTheGroupAfterTakeover() async throws {
        let probe = try builtExecutable("GlobalExecutorProbe")
        let report = "/tmp/uring-takeover-report-\(getpid())"
        defer { unlink(report) }
        let status = try await spawnAndWait([probe, report], environment: inheritedEnvironment())
        #expect(status == 0, "the probe failed (exit status \(status); its stderr says which check)")
        let text = try #require(readReport(report), "the probe wrote no report")
        let passed = text.split(separator: "\n").map(String.init)
        #expect(passed == GlobalExecutorTests.checks)
    }
}
