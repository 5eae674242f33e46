// `uring bench`: each workload against each engine, side by side in one run.
import ArgumentParser
import Foundation
import URingLoop
import URingNetwork
import URingStorage

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure swift-uring against its peers (the default with no arguments: the quick suite).")

    @Argument(help: "Workloads to run: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")) (default: all but udp-echo).")
    var workloads: [Workload] = []

    @Option(parsing: .unconditional, help: "Seconds per run of each engine and workload (default: \(Workload.defaultSeconds)).")
    var seconds: Double?

    @Option(parsing: .unconditional, help: "Concurrent tasks (or connections); default per workload.")
    var concurrency: Int?

    @Option(name: .customLong("engine"), help: "Engines to measure (repeatable; default: all for the workload).")
    var engines: [Engine] = []

    @Flag(help: "storage-read: open with O_DIRECT (device-bound) instead of reading the warm page cache.")
    var direct = false

    @Option(parsing: .unconditional, help: "storage-read: size of the file read at random, in MiB.")
    var fileSizeMib = 256

    @Option(parsing: .unconditional, help: "storage-read: our engines (uring, uring-local) read B blocks per call (Blob.read(batch:)) from concurrency/B tasks, so as many reads are in flight as with the other engines.")
    var batch = 1

    @Option(parsing: .unconditional, help: "echo: bytes per message.")
    var messageSize = 64

    @Option(help: "Where the storage workloads create their temporary files.")
    var directory = "/tmp"

    /// Three by default: on a busy machine one run can land in a bad
    /// scheduling regime (BENCHMARKS.md), and a median of interleaved runs
    /// shows what is typical.
    @Option(parsing: .unconditional, help: "Runs per engine, interleaved; the run with the median ops/s is reported.")
    var runs = 3

    @Option(parsing: .unconditional, help: "Our loops' idle spin in microseconds (yielding before they sleep), for every uring engine; default: the loop's own.")
    var idleSpin: Int?

    @Flag(inversion: .prefixedNo, help: "Our loops submit file reads that go to a device two per system call (LoopConfiguration.pacesDeviceReads); --no-read-pacing keeps the kernel's batching, to compare the two in one binary.")
    var readPacing = true

    @Flag(inversion: .prefixedNo, help: "Our loops sleep on a futex when they hold no request the kernel could complete (LoopConfiguration.sleepsOnFutexWhenIdle); --no-idle-futex keeps every sleep in io_uring_enter, woken through the eventfd, to compare the two in one binary.")
    var idleFutex = true

    @Flag(inversion: .prefixedNo, help: "storage-read: our engines copy what the page cache holds on the reading task's thread and send only the rest through the ring (ReadOptions.cacheFirst); --no-cache-first sends every read through the ring, to compare the two in one binary.")
    var cacheFirst = true

    @Option(parsing: .unconditional, help: "echo and udp-echo: which of the uring engine's socket calls first try the socket on the calling task's thread, using the ring only for what must wait (NetworkConfiguration.readyFirst; default: all); none sends every call through the ring, to compare in one binary.")
    var readyFirst: ReadyFirstChoice = .all

    @Flag(help: "uring-local: pin each loop of the group to its own CPU (LoopGroup's pinningLoopsToCPUs).")
    var pinLoops = false

    @Option(parsing: .unconditional, help: "Nice value (-20...19) for every engine's own event-loop thread: our loops, floor's thread, NIO's echo event loop. Below the current one needs CAP_SYS_NICE.")
    var threadNice: Int32?

    @Flag(help: "Install a LoopGroup (one loop per CPU) as Swift Concurrency's global executor first: every task then runs on our loops (the peers' tasks too; NIO's echo server and the blocking engines have none), and the uring echo server serves plain tasks on that group.")
    var globalExecutor = false

    @Flag(help: "Print the results as JSON instead of a table.")
    var json = false

    func validate() throws {
        if let seconds, !(seconds > 0 && seconds <= 3600) {
            throw ValidationError("--seconds must be in (0, 3600], got \(seconds)")
        }
        if !(1...(1 << 20)).contains(messageSize) { throw ValidationError("--message-size must be in 1...1048576, got \(messageSize)") }
        if !(1...65536).contains(fileSizeMib) { throw ValidationError("--file-size-mib must be in 1...65536, got \(fileSizeMib)") }
        if !(1...99).contains(runs) { throw ValidationError("--runs must be in 1...99, got \(runs)") }
        try BenchRunner.validateLoopOptions(idleSpin: idleSpin, threadNice: threadNice)
        if let concurrency, !(1...4096).contains(concurrency) {
            throw ValidationError("--concurrency must be in 1...4096, got \(concurrency)")
        }
        let selectedWorkloads = workloads.isEmpty ? Workload.defaultSuite : workloads
        if selectedWorkloads.contains(.udpEcho) && messageSize > 65_507 {
            throw ValidationError("udp-echo sends each message as one datagram: --message-size must be at most 65507, got \(messageSize)")
        }
        if batch != 1 {
            guard selectedWorkloads.contains(.storageRead) else {
                throw ValidationError("--batch applies to storage-read only")
            }
            let readConcurrency = concurrency ?? Workload.storageRead.defaultConcurrency
            guard (1...readConcurrency).contains(batch), readConcurrency % batch == 0 else {
                throw ValidationError("--batch must divide the concurrency (\(readConcurrency)), got \(batch)")
            }
        }
        for engine in engines where !selectedWorkloads.contains(where: { $0.engines.contains(engine) }) {
            throw ValidationError("engine \(engine.rawValue) runs none of the selected workloads (\(selectedWorkloads.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() async throws {
        DescriptorLimit.raiseToHardLimit()
        var globalLoops: LoopGroup?
        if globalExecutor {
            // For the rest of the process: the takeover cannot be undone.
            // A network's loop settings: these loops also serve echo's connections.
            let loops = try LoopGroup(configuration: BenchRunner.loopConfiguration(
                                          idleSpin: idleSpin, threadNice: threadNice, base: NetworkConfiguration.defaultLoop),
                                      pinningLoopsToCPUs: pinLoops)
            try loops.unsafeInstallAsGlobalExecutor()
            globalLoops = loops
        }
        var results: [BenchResult] = []
        for workload in workloads.isEmpty ? Workload.defaultSuite : workloads {
            let selected = engines.isEmpty ? workload.engines : workload.engines.filter(engines.contains)
            if selected.isEmpty { continue }
            let settings = BenchSettings(
                workload: workload,
                concurrency: concurrency ?? workload.defaultConcurrency,
                duration: .milliseconds(Int64((seconds ?? Workload.defaultSeconds) * 1000)),
                idleSpin: idleSpin,
                readPacing: readPacing,
                idleFutex: idleFutex,
                cacheFirst: cacheFirst,
                readyFirst: readyFirst.directions,
                pinLoops: pinLoops,
                threadNice: threadNice,
                direct: direct,
                messageSize: messageSize,
                batch: workload == .storageRead ? batch : 1,
                globalLoops: globalLoops)
            let fixture = try await StorageFixture.make(
                for: workload, directory: directory, fileSize: UInt64(fileSizeMib) << 20, direct: direct,
                loop: BenchRunner.loopConfiguration(settings))
            do {
                results += try await measure(settings, engines: selected, fixture: fixture)
            } catch {
                await fixture?.tearDown()
                throw error
            }
            await fixture?.tearDown()
        }
        if let globalLoops {
            let statistics = globalLoops.handles.map(\.statistics)
            writeError("global executor: \(statistics.reduce(0) { $0 + $1.jobsRun }) jobs ran on its \(statistics.count) loops, "
                + "\(statistics.reduce(0) { $0 + $1.directSubmissions }) requests were submitted from them directly\n")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print("")
            print(ResultTable.render(results))
            print("")
            print(ResultTable.legend(results))
        }
    }
}

extension BenchCommand {
    /// Runs every engine `runs` times, interleaved, and keeps each one's median run.
    func measure(_ settings: BenchSettings, engines selected: [Engine], fixture: StorageFixture?) async throws -> [BenchResult] {
        var samples: [Engine: [BenchResult]] = [:]
        for run in 1...runs {
            for engine in selected {
                Progress.show("\(settings.workload.rawValue) / \(engine.rawValue) (run \(run) of \(runs)): \(settings.concurrency) tasks for \(format(settings.seconds, 1)) s")
                let result = try await BenchRunner.run(settings, engine: engine, fixture: fixture)
                Progress.clear()
                if runs > 1 && !json { print("  run \(run): " + result.line) }
                samples[engine, default: []].append(result)
            }
        }
        return selected.map { engine in
            let sorted = samples[engine]!.sorted { $0.operationsPerSecond < $1.operationsPerSecond }
            let median = sorted[sorted.count / 2]
            if !json { print(median.line) }
            return median
        }
    }
}
