// The `uring` command-line tool: benchmarks against the peers, examples.
import ArgumentParser

@main
struct Uring: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uring",
        abstract: "swift-uring: io_uring for Swift. Run with no arguments for the quick benchmark suite.",
        subcommands: [BenchCommand.self, EchoServerCommand.self, FeaturesCommand.self],
        defaultSubcommand: BenchCommand.self
    )
}
