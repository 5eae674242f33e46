// `uring echo-server --stop-when-input-ends`, and the `uring-global`
// engine's use of it: a child server ends with the process that started it,
// even one that dies without stopping it. (A child that outlived a crashed
// test process once held the test runner's output pipe, and `swift test`
// waited on it for good.)
import CURing
import Glibc
import Testing
import URingTestSupport

@Suite struct EchoServerInputEndTests {
    @Test func theServerRunsWhileItsInputIsOpenAndStopsCleanlyWhenItEnds() async throws {
        let tool = try builtExecutable("uring")
        let output = "/tmp/uring-echo-input-end-\(getpid())"
        defer { unlink(output) }
        var input: [Int32] = [0, 0]
        try #require(curing_pipe_cloexec(&input) == 0)
        var inputOpen = true
        defer { if inputOpen { close(input[1]) } }
        let server: pid_t
        do {
            server = try spawnChild([tool, "echo-server", "--port", "0", "--stop-when-input-ends"],
                                    environment: inheritedEnvironment(), output: output, input: input[0])
        } catch {
            close(input[0])
            throw error
        }
        close(input[0])
        var reaped = false
        defer { if !reaped { kill(server, SIGKILL); _ = waitpid(server, nil, 0) } }

        try await until("the server listens", seconds: 60, every: .milliseconds(10)) { readReport(output)?.contains("listening port=") == true }
        // An open pipe with nothing in it is no reason to stop; a byte is not either.
        #expect(write(input[1], "x", 1) == 1)
        try await Task.sleep(for: .milliseconds(200))
        #expect(waitpid(server, nil, WNOHANG) == 0, "the server stopped with its input still open: \(readReport(output) ?? "")")

        close(input[1])
        inputOpen = false
        let status = try await bounded("the server's exit once its input ended", seconds: 30) { await exitStatus(of: server) }
        reaped = true
        #expect(status == 0, "exit status \(status): \(readReport(output) ?? "")")
        #expect(readReport(output)?.contains("stopped") == true, "no clean stop in: \(readReport(output) ?? "")")
    }

    /// The failure itself: `uring bench --engine uring-global` is killed
    /// mid-run, and the echo server it started goes too.
    @Test func theUringGlobalEnginesServerEndsWithAKilledBenchmark() async throws {
        let tool = try builtExecutable("uring")
        let output = "/tmp/uring-killed-bench-\(getpid())"
        defer { unlink(output) }
        // Two connections, not the default 32: the benchmark runs beside
        // every other suite until this test kills it, and must not starve
        // them (nor this test's polls) while it does.
        let bench = try spawnChild([tool, "bench", "echo", "--engine", "uring-global", "--concurrency", "2", "--seconds", "30", "--runs", "1"],
                                   environment: inheritedEnvironment(), output: output)
        var reaped = false
        defer { if !reaped { kill(bench, SIGKILL); _ = waitpid(bench, nil, 0) } }

        var server: pid_t = 0
        try await until("the benchmark starts its echo server", seconds: 60, every: .milliseconds(10)) {
            server = children(of: bench).first { readReport("/proc/\($0)/cmdline")?.contains("echo-server") == true } ?? 0
            return server != 0
        }
        defer { if isRunning(server) { kill(server, SIGKILL) } }
        // Serving the benchmark's two connections (beside its listener): it
        // listened, reported its port (the benchmark has read it) and waits
        // for its end.
        try await until("the server accepts the benchmark's connections", seconds: 60, every: .milliseconds(10)) { socketCount(of: server) > 2 }

        kill(bench, SIGKILL)
        let status = await exitStatus(of: bench)
        reaped = true
        #expect(status == 128 + SIGKILL)
        // Reparented, it is no longer ours to reap: gone, or a zombie
        // waiting for its new parent, both mean it exited.
        try await until("the orphaned echo server exits", seconds: 30, every: .milliseconds(10)) { !isRunning(server) }
    }
}

/// The sockets `pid` has open.
private func socketCount(of pid: pid_t) -> Int {
    openDescriptors(ofProcess: pid).filter { $0.contains("->socket:") }.count
}
