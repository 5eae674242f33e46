// `uring echo-server`: a plain TCP (or, with `--unix`, Unix domain socket)
// echo server on URingNetwork, until SIGINT or SIGTERM; with `--udp`, one
// that echoes datagrams. By default connections are served by ordinary tasks
// (the `uring` engine's shape); `--on-loops` serves each one on its loop
// (the `uring-local` engine's); `--global-executor` installs the loops as
// the process's global executor and serves with ordinary tasks, which the
// takeover moves onto their connection's loop (the `uring-global` engine's,
// which runs this command in a child process, with `--stop-when-input-ends`
// so that the server cannot outlive the benchmark).
import ArgumentParser
import Dispatch
import Glibc
import URingLoop
import URingNetwork

struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "Echo every byte back to TCP (or Unix domain socket) clients, or with --udp every datagram to its sender, until SIGINT/SIGTERM.")

    @Option(help: "Address to listen on: numeric IPv4 or IPv6, or a name (its first address, in the resolver's order).")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0 picks a free one).")
    var port: UInt16 = 7007

    @Option(help: ArgumentHelp("Listen on a Unix domain socket at this path instead of TCP (the server removes its socket file when it stops).",
                               valueName: "path"))
    var unix: String?

    @Flag(help: "Echo datagrams instead: UDP, or with --unix a Unix domain datagram socket; each datagram goes back whole to its sender.")
    var udp = false

    @Flag(help: "Serve each connection on its loop: a group of one loop per CPU, each connection's task running on its loop's thread (with --udp, the echoing tasks on the socket's loop).")
    var onLoops = false

    @Flag(help: "Install a group of one loop per CPU as Swift Concurrency's global executor and serve on it with ordinary tasks.")
    var globalExecutor = false

    @Flag(help: "With --on-loops or --global-executor: pin each loop to its own CPU.")
    var pinLoops = false

    @Option(parsing: .unconditional, help: "The loops' idle spin in microseconds; default: the loop's own.")
    var idleSpin: Int?

    @Option(parsing: .unconditional, help: "The loops' nice value (-20...19); below the current one needs CAP_SYS_NICE.")
    var threadNice: Int32?

    @Flag(help: "Also stop when standard input ends: a process that starts the server with a pipe as its input ends it by closing the pipe, or by exiting in any way, a crash included.")
    var stopWhenInputEnds = false

    func validate() throws {
        if onLoops && globalExecutor { throw ValidationError("--on-loops and --global-executor are two different shapes; choose one") }
        if pinLoops && !onLoops && !globalExecutor { throw ValidationError("--pin-loops needs --on-loops or --global-executor") }
        try BenchRunner.validateLoopOptions(idleSpin: idleSpin, threadNice: threadNice)
        _ = try givenAddress()
    }

    /// Where to listen as given: `--unix`, else a numeric `--host` with
    /// `--port`; nil for a host name, looked up when the server starts.
    func givenAddress() throws -> SocketAddress? {
        do {
            if let unix { return try SocketAddress(unixDomainSocketPath: unix) }
            return try SocketAddress.numericHost(host, port: port)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Where to listen: the given address, or the host name's first one.
    func listeningAddress() async throws -> SocketAddress {
        if let address = try givenAddress() { return address }
        // At least one address, or it throws (a name with none is `.notFound`).
        return try await SocketAddress.resolve(host: host, port: port)[0]
    }

    func run() async throws {
        DescriptorLimit.raiseToHardLimit()
        let (server, loops) = try await start()
        // Written straight to fd 1: scripts wait for this line, and print's
        // buffering would hold it back when stdout is a pipe or a file.
        let local = server.localAddress
        writeOutput(local.family == AF_UNIX ? "listening path=\(local.host)\n" : "listening port=\(local.port)\n")
        await waitForTermination(orEndOfInput: stopWhenInputEnds)
        try await server.stop()
        if let loops {
            await loops.shutdown()  // the loops' statistics are final once they have exited
            let statistics = loops.handles.map(\.statistics)
            writeOutput("loops jobs_run=\(statistics.reduce(0) { $0 + $1.jobsRun }) "
                + "direct_submissions=\(statistics.reduce(0) { $0 + $1.directSubmissions })\n")
        }
        writeOutput("stopped\n")
    }

    /// Starts the server this command describes, with the loop group it
    /// runs on (`--on-loops` or `--global-executor`; the caller shuts it
    /// down after the server).
    func start() async throws -> (any LocalEchoServer, LoopGroup?) {
        let loop = BenchRunner.loopConfiguration(idleSpin: idleSpin, threadNice: threadNice,
                                                 base: NetworkConfiguration.defaultLoop)
        var configuration = URingEchoServer.defaultConfiguration
        configuration.loop = loop
        let address = try await listeningAddress()
        guard onLoops || globalExecutor else {
            if udp { return (try await URingDatagramEchoServer.start(address: address, configuration: configuration), nil) }
            return (try URingEchoServer(address: address, configuration: configuration), nil)
        }
        let loops = try LoopGroup(configuration: loop, pinningLoopsToCPUs: pinLoops)
        do {
            // For the rest of the process: a takeover cannot be undone.
            if globalExecutor { try loops.unsafeInstallAsGlobalExecutor() }
            if udp {
                return (try await URingDatagramEchoServer.start(address: address, configuration: configuration, loops: loops,
                                                                preferLoop: onLoops), loops)
            }
            return (try URingEchoServer(address: address, configuration: configuration, loops: loops, preferLoops: onLoops), loops)
        } catch {
            await loops.shutdown()
            throw error
        }
    }

    /// Returns on SIGINT or SIGTERM (handled, so the process exits cleanly)
    /// or, with `orEndOfInput`, when standard input reaches its end.
    private func waitForTermination(orEndOfInput: Bool) async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        // A parent that has gone no longer reads our output: a write to
        // the pipe must fail with EPIPE, not kill us before the clean stop.
        if orEndOfInput { signal(SIGPIPE, SIG_IGN) }
        let queue = DispatchQueue(label: "uring.signals")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = TerminationLatch(continuation)
            for number in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { fired.fire() }
                fired.keep(source)
                source.resume()
            }
            guard orEndOfInput else { return }
            let input = DispatchSource.makeReadSource(fileDescriptor: 0, queue: queue)
            input.setEventHandler {
                // Readable: bytes (read and ignored), or the end. A failure
                // other than an interruption ends the wait too. Either way
                // the source is cancelled: the end stays readable, and the
                // source would fire again and again.
                var scratch = [UInt8](repeating: 0, count: 256)
                let count = read(0, &scratch, scratch.count)
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) {
                    input.cancel()
                    fired.fire()
                }
            }
            fired.keep(input)
            input.resume()
        }
    }
}
