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
        let seconds = 0.2
        let status = try await spawnAndWait([tool, "bench", "echo", "nop", "--engine", "uring", "--seconds", "\(seconds)", "--runs", "1", "--global-executor"],
                                      environment: inheritedEnvironment(), output: output)
        let text = readReport(output) ?? ""
        #expect(status == 0, "uring bench failed (exit status \(status)): \(text)")
        for workload in ["echo", "nop"] {
            #expect(text.contains("bench workload=\(workload) engine=uring conc="), "no \(workload) result in: \(text)")
        }
        // The summary the tool prints for the installed group. Bounds come
        // from the run's own lines, not fixed counts, so a slow machine (a
        // sanitizer build beside every other suite) passes or fails on
        // what the run did: each NOP resumed its task on the group (at
        // least one job per request), and each echo message had the
        // server's connection task, on the group, submit a receive and a
        // send from its loop (at least one direct submission per message).
        let summary = try #require(text.split(separator: "\n").first { $0.hasPrefix("global executor: ") }, "no summary in: \(text)")
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 3, "unreadable summary: \(summary)")
        let nops = try #require(operations(of: "nop", in: text, seconds: seconds), "no nop rate in: \(text)")
        let messages = try #require(operations(of: "echo", in: text, seconds: seconds), "no echo rate in: \(text)")
        #expect(nops > 0 && messages > 0, "a workload did nothing: \(text)")
        #expect(Double(numbers[0]) >= nops, "jobs run on the group, for at least \(Int(nops)) NOPs: \(summary)")
        #expect(Double(numbers[2]) >= messages, "direct submissions on the group, for at least \(Int(messages)) echo messages: \(summary)")
    }

    /// A lower bound on the operations a workload ran: its rate times the
    /// requested time (a run lasts at least that long).
    private func operations(of workload: String, in text: String, seconds: Double) -> Double? {
        let line = text.split(separator: "\n").first { $0.hasPrefix("bench workload=\(workload) engine=uring ") }
        let field = line?.split(separator: " ").first { $0.hasPrefix("ops_per_s=") }
        return field.flatMap { Double($0.dropFirst("ops_per_s=".count)) }.map { $0 * seconds }
    }
}
