// `uring echo-server`: a plain TCP echo server on URingNetwork, until
// SIGINT or SIGTERM. By default connections are served by ordinary tasks
// (the `uring` engine's shape); `--on-loops` serves each one on its loop
// (the `uring-local` engine's, the faster one in BENCHMARKS.md).
import ArgumentParser
import Dispatch
import Glibc
import URingLoop
import URingNetwork

struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server", abstract: "Echo every byte back to TCP clients (until SIGINT/SIGTERM).")

    @Option(help: "Address to listen on (numeric IPv4 or IPv6).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: UInt16 = 7007

    @Flag(help: "Serve each connection on its loop: a group of one loop per CPU, each connection's task running on its loop's thread.")
    var onLoops = false

    @Flag(help: "With --on-loops: pin each loop to its own CPU.")
    var pinLoops = false

    func validate() throws {
        if pinLoops && !onLoops { throw ValidationError("--pin-loops needs --on-loops") }
    }

    func run() async throws {
        let (server, loops) = try await start()
        // Written straight to fd 1: scripts wait for this line, and print's
        // buffering would hold it back when stdout is a pipe or a file.
        writeOutput("listening port=\(server.port)\n")
        await waitForTermination()
        try await server.stop()
        await loops?.shutdown()
        writeOutput("stopped\n")
    }

    /// Starts the server this command describes, with the loop group it
    /// runs on (`--on-loops`; the caller shuts it down after the server).
    func start() async throws -> (URingEchoServer, LoopGroup?) {
        guard onLoops else { return (try URingEchoServer(host: host, port: port), nil) }
        let loops = try LoopGroup(pinningLoopsToCPUs: pinLoops)
        do {
            return (try URingEchoServer(host: host, port: port, loops: loops), loops)
        } catch {
            await loops.shutdown()
            throw error
        }
    }

    /// Returns on SIGINT or SIGTERM (handled, so the process exits cleanly).
    private func waitForTermination() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "uring.signals")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = SignalLatch(continuation)
            for number in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { fired.fire() }
                fired.keep(source)
                source.resume()
            }
        }
    }
}

/// Resumes once, whichever signal comes first; keeps the sources alive.
/// `@unchecked Sendable`: `continuation` is touched only by `fire`, which runs
/// on the one serial signal queue; `sources` only during setup, by the caller.
private final class SignalLatch: @unchecked Sendable {
    private var continuation: CheckedContinuation<Void, Never>?
    private var sources: [any DispatchSourceSignal] = []

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
    }

    func keep(_ source: any DispatchSourceSignal) { sources.append(source) }

    func fire() {
        continuation?.resume()
        continuation = nil
    }
}
