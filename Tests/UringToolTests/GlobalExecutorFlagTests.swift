// `uring bench --global-executor`: the takeover lasts for the process, so
// the tool runs as a child (the `uring` binary built beside this test
// binary) and its output is read back.
import Glibc
import Testing
import URingTestSupport

@Suite struct GlobalExecutorFlagTests {
    @Test func benchRunsItsTasksOnTheInstalledGroup() async throws {
        let tool = try builtExecutable("uring")
        let output = "/tmp/uring-global-executor-\(getpid())"
        defer { unlink(output) }
        let status = try await spawnAndWait([tool, "bench", "echo", "nop", "--engine", "uring", "--seconds", "0.2", "--runs", "1", "--global-executor"],
                                      environment: inheritedEnvironment(), output: output)
        let text = readReport(output) ?? ""
        #expect(status == 0, "uring bench failed (exit status \(status)): \(text)")
        for workload in ["echo", "nop"] {
            #expect(text.contains("bench workload=\(workload) engine=uring conc="), "no \(workload) result in: \(text)")
        }
        // The summary the tool prints for the installed group: the echo
        // server's connection tasks ran on its loops and submitted there.
        let summary = try #require(text.split(separator: "\n").first { $0.hasPrefix("global executor: ") }, "no summary in: \(text)")
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 3, "unreadable summary: \(summary)")
        #expect(numbers[0] > 1000, "jobs run on the group: \(summary)")
        #expect(numbers[2] > 1000, "direct submissions on the group: \(summary)")
    }
}
