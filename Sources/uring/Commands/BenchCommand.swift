// `uring bench`: each workload against each engine, side by side in one run.
import ArgumentParser
import Foundation
import URingLoop

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure swift-uring against its peers (the default with no arguments: the quick suite).")

    @Argument(help: "Workloads to run: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var workloads: [Workload] = []

    @Option(help: "Seconds per engine and workload.")
    var seconds: Double?

    @Option(help: "Concurrent tasks (or connections); default per workload.")
    var concurrency: Int?

    @Option(name: .customLong("engine"), help: "Engines to measure (repeatable; default: all for the workload).")
    var engines: [Engine] = []

    @Option(help: "Runs per engine, interleaved; the run with the median ops/s is reported.")
    var runs = 1

    @Option(help: "The uring loop's idle spin (yields before sleeping); default: the loop's own.")
    var idleSpin: Int?

    @Flag(help: "Print the results as JSON instead of a table.")
    var json = false

    func validate() throws {
        if let seconds, !(seconds > 0 && seconds <= 3600) {
            throw ValidationError("--seconds must be in (0, 3600], got \(seconds)")
        }
        if !(1...99).contains(runs) { throw ValidationError("--runs must be in 1...99, got \(runs)") }
        if let idleSpin, idleSpin < 0 { throw ValidationError("--idle-spin must not be negative") }
        if let concurrency, !(1...4096).contains(concurrency) {
            throw ValidationError("--concurrency must be in 1...4096, got \(concurrency)")
        }
        for workload in workloads.isEmpty ? Workload.allCases : workloads {
            let unknown = engines.filter { !workload.engines.contains($0) }
            if !unknown.isEmpty, workloads.count == 1 || engines.allSatisfy({ !workload.engines.contains($0) }) {
                throw ValidationError("engine \(unknown.map(\.rawValue).joined(separator: ", ")) does not run \(workload.rawValue) (it has: \(workload.engines.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }

    func run() async throws {
        var results: [BenchResult] = []
        for workload in workloads.isEmpty ? Workload.allCases : workloads {
            let selected = engines.isEmpty ? workload.engines : workload.engines.filter(engines.contains)
            let settings = BenchSettings(
                workload: workload,
                concurrency: concurrency ?? workload.defaultConcurrency,
                duration: .milliseconds(Int64((seconds ?? workload.defaultSeconds) * 1000)),
                idleSpin: idleSpin)
            var samples: [Engine: [BenchResult]] = [:]
            for run in 1...runs {
                for engine in selected {
                    Progress.show("\(workload.rawValue) / \(engine.rawValue) (run \(run) of \(runs)): \(settings.concurrency) tasks for \(format(settings.seconds, 1)) s")
                    let result = try await BenchRunner.run(settings, engine: engine)
                    Progress.clear()
                    if runs > 1 && !json { print("  run \(run): " + result.line) }
                    samples[engine, default: []].append(result)
                }
            }
            for engine in selected {
                let sorted = samples[engine]!.sorted { $0.operationsPerSecond < $1.operationsPerSecond }
                let median = sorted[sorted.count / 2]
                if !json { print(median.line) }
                results.append(median)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print("")
            print(ResultTable.render(results))
        }
    }
}

/// What one workload run is asked to do.
struct BenchSettings: Sendable {
    var workload: Workload
    var concurrency: Int
    var duration: Duration
    var idleSpin: Int?
    var seconds: Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
}
