// The `uring-global` engine's server: `uring echo-server --global-executor`
// in a child process. A takeover of the global executor lasts for its
// process and would move every other engine's tasks onto our loops too, so
// it gets a process of its own, as a server that chose it would; the
// benchmark's client runs in this one against it, as it does against the
// others. The child's standard input is a pipe whose other end only this
// process holds, and the child stops when it ends: if this process dies
// without stopping it (a crash), the child goes too instead of running on
// and holding whatever it inherited (a test runner's output pipe).
import CURing
import Glibc
import URingLoop

final class ChildEchoServer: EchoServer {
    let port: UInt16
    let pid: pid_t
    /// The read end of the child's standard output.
    private let output: Int32
    /// The write end of the child's standard input, never written: the
    /// kernel closes it when this process ends, however it ends.
    private let lifeline: Int32
    /// What the child printed after it was told to stop; nil until then.
    /// Set once: a second `stop` must not signal a pid already reaped.
    private let farewell = Locked<String?>(nil)

    private init(port: UInt16, pid: pid_t, output: Int32, lifeline: Int32) {
        self.port = port
        self.pid = pid
        self.output = output
        self.lifeline = lifeline
    }

    /// Starts the child with `options` after `echo-server` and waits for
    /// the port it listens on.
    static func start(options: [String]) async throws -> ChildEchoServer {
        let tool = try toolPath()
        return try await start(arguments: [tool, "echo-server", "--host", "127.0.0.1", "--port", "0", "--stop-when-input-ends"] + options)
    }

    /// Starts `arguments` (the executable's path first) as the server: it
    /// must print `listening port=P` as its first line once it listens,
    /// within `bound` (a child that does not is killed, and that is an error).
    static func start(arguments: [String], within bound: Duration = ChildEchoServer.startBound) async throws -> ChildEchoServer {
        let deadline = ContinuousClock.now + bound
        return try await runBlocking {
            // Close-on-exec, atomically: the child gets these ends only as
            // its fds 0 and 1, and no other child spawned meanwhile gets any.
            var outputPipe: [Int32] = [0, 0]
            var inputPipe: [Int32] = [0, 0]
            let failed = curing_pipe_cloexec(&outputPipe)
            guard failed == 0 else { throw BenchError("pipe failed: errno \(-failed)") }
            let alsoFailed = curing_pipe_cloexec(&inputPipe)
            guard alsoFailed == 0 else {
                for fd in outputPipe { close(fd) }
                throw BenchError("pipe failed: errno \(-alsoFailed)")
            }
            let pid: pid_t
            do {
                pid = try spawn(arguments, standardInput: inputPipe[0], standardOutput: outputPipe[1])
            } catch {
                for fd in outputPipe + inputPipe { close(fd) }
                throw error
            }
            close(outputPipe[1])
            close(inputPipe[0])
            // Everything it prints up to the line the echo-server command
            // writes once it listens; EOF means it failed (its stderr says
            // why), and the deadline that it hangs.
            let (text, ended) = readOutput(outputPipe[0], until: deadline, stoppingAtALine: true)
            guard let line = text.split(separator: "\n").first, line.hasPrefix("listening port="),
                  let port = UInt16(line.dropFirst("listening port=".count)) else {
                close(outputPipe[0])
                close(inputPipe[1])
                kill(pid, SIGKILL)
                let status = wait(for: pid)
                let late = ended ? "" : " within \(bound)"
                throw BenchError("`\(ChildEchoServer.name(arguments))` did not report its port\(late) (printed \(text.debugDescription), exit status \(status))")
            }
            return ChildEchoServer(port: port, pid: pid, output: outputPipe[0], lifeline: inputPipe[1])
        }
    }

    /// Ends the child with SIGTERM (the command's clean shutdown) and checks
    /// that it exited cleanly. A child still running `bound` after the
    /// signal (one that ignores it, or hangs in its shutdown) is killed,
    /// and that is an error: a stop never waits without end.
    func stop() async throws {
        try await stop(within: ChildEchoServer.stopBound)
    }

    /// `stop()` with the bound chosen (the tool's tests).
    func stop(within bound: Duration) async throws {
        let (pid, output) = (self.pid, self.output)
        let first = farewell.withLock { farewell in
            defer { farewell = farewell ?? "" }
            return farewell == nil
        }
        guard first else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + bound
        let (status, text) = try await runBlocking { () -> (Int32?, String) in
            // The rest of its output, up to EOF (its exit), then its status.
            let (text, _) = ChildEchoServer.readOutput(output, until: deadline)
            return (ChildEchoServer.wait(for: pid, until: deadline), text)
        }
        farewell.withLock { $0 = text }
        guard let status else {
            kill(pid, SIGKILL)
            _ = ChildEchoServer.wait(for: pid)
            throw BenchError("the echo server (pid \(pid)) was still running \(bound) after SIGTERM; killed it")
        }
        guard status != -1 else { throw BenchError("the echo server (pid \(pid)) ended, but its exit status was lost (reaped elsewhere)") }
        guard status == 0 else { throw BenchError("the echo server exited with status \(status) when stopped") }
    }

    /// How long `start` waits for the port and `stop` for the exit after
    /// SIGTERM: `uring echo-server` takes milliseconds for either, seconds
    /// on a loaded machine under a sanitizer.
    static let startBound: Duration = .seconds(60)
    static let stopBound: Duration = .seconds(30)

    /// Requests the child's loops submitted directly (from tasks on the
    /// loops), as it reported when it stopped; nil before that.
    var directSubmissions: UInt64? {
        guard let text = farewell.withLock({ $0 }), let field = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first(where: { $0.hasPrefix("direct_submissions=") })
        else { return nil }
        return UInt64(field.dropFirst("direct_submissions=".count))
    }

    deinit {
        // Never stopped (a caller that lost track of it): no orphan server.
        if farewell.withLock({ $0 == nil }) {
            kill(pid, SIGKILL)
            _ = ChildEchoServer.wait(for: pid)
        }
        close(output)
        close(lifeline)
    }

    // MARK: - Process handling

    /// The `uring` executable: this process when it is the tool; beside
    /// it otherwise (the tool's tests run it from their own binary).
    private static func toolPath() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw BenchError("cannot read /proc/self/exe: errno \(errno)") }
        let this = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if this.hasSuffix("/uring") { return this }
        let beside = String(this[..<(this.lastIndex(of: "/") ?? this.startIndex)]) + "/uring"
        guard access(beside, X_OK) == 0 else {
            throw BenchError("the uring-global engine runs `uring echo-server` in a child process; no uring executable at \(beside)")
        }
        return beside
    }

    /// Reads the child's output until EOF or `deadline`, whichever is first,
    /// or with `stoppingAtALine`, until a whole line has arrived; `ended`
    /// unless it stopped at the deadline.
    private static func readOutput(
        _ fd: Int32, until deadline: ContinuousClock.Instant, stoppingAtALine: Bool = false
    ) -> (text: String, ended: Bool) {
        var text = ""
        var chunk = [UInt8](repeating: 0, count: 256)
        while !(stoppingAtALine && text.contains("\n")) {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, milliseconds(until: deadline))
            if polled < 0 && errno == EINTR { continue }
            if polled == 0 { return (text, false) }
            guard polled > 0 else { break }
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            text += String(decoding: chunk.prefix(count), as: UTF8.self)
        }
        return (text, true)
    }

    /// Milliseconds from now to `deadline`, rounded up (a poll that times
    /// out is then past it), at least 0, for `poll`.
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - .now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        let rounded = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(min(rounded, Int64(Int32.max)))
    }

    /// The command line's first two words, for messages.
    private static func name(_ arguments: [String]) -> String {
        let tool = arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? ""
        return ([tool] + arguments.dropFirst().prefix(1)).joined(separator: " ")
    }

    private static func spawn(_ arguments: [String], standardInput: Int32, standardOutput: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        // Nothing else of ours: a socket or pipe this process holds without
        // close-on-exec (its own, or one it inherited) would otherwise stay
        // open in the server for as long as it runs. Best effort where the
        // C library lacks the action.
        _ = curing_spawn_close_from(&actions, 3)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard result == 0 else { throw BenchError("cannot start \(arguments[0]): errno \(result)") }
        return pid
    }

    /// Waits for `pid` to end; its exit status, or 128 + the signal.
    private static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return exitStatus(status)
    }

    /// `wait(for:)` until `deadline`; nil if `pid` is still running then,
    /// -1 if it was reaped elsewhere.
    /// (Output closed at EOF usually means the child has exited or is about
    /// to, so this polls briefly rather than blocking in `waitpid`.)
    private static func wait(for pid: pid_t, until deadline: ContinuousClock.Instant) -> Int32? {
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return exitStatus(status) }
            // Reaped elsewhere (SIGCHLD ignored): gone, its status lost.
            if reaped < 0 && errno == ECHILD { return -1 }
            guard ContinuousClock.now < deadline else { return nil }
            usleep(1_000)
        }
    }

    /// WIFEXITED / WEXITSTATUS, spelled out (they are C macros): the exit
    /// status, or 128 + the signal that ended the process.
    private static func exitStatus(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
