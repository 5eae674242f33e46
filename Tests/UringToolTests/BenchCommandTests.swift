// The `uring` tool: bad arguments are refused with their reason, and every
// engine of every workload runs and reports its machine-readable line (a
// short smoke run, not a measurement: the figures are only checked to exist).
import ArgumentParser
import CURing
import Glibc
import Testing
@testable import uring
import URingNetwork

@Suite struct BenchCommandTests {
    @Test func badArgumentsAreRefusedWithTheirReason() {
        let cases: [([String], String)] = [
            (["foo"], "The value 'foo' is invalid for '<workloads>'"),
            (["--seconds", "0"], "--seconds must be in (0, 3600], got 0.0"),
            (["--seconds", "4000"], "--seconds must be in (0, 3600], got 4000.0"),
            // Negative values are values, not flags: refused for their range.
            (["--seconds", "-1"], "--seconds must be in (0, 3600], got -1.0"),
            (["--concurrency", "-3"], "--concurrency must be in 1...4096, got -3"),
            (["--runs", "-2"], "--runs must be in 1...99, got -2"),
            (["--idle-spin", "-5"], "--idle-spin must be in 0...10000 µs"),
            (["--concurrency", "0"], "--concurrency must be in 1...4096, got 0"),
            (["--concurrency", "5000"], "--concurrency must be in 1...4096, got 5000"),
            (["--runs", "0"], "--runs must be in 1...99, got 0"),
            (["--message-size", "0"], "--message-size must be in 1...1048576, got 0"),
            (["--file-size-mib", "0"], "--file-size-mib must be in 1...65536, got 0"),
            (["--idle-spin", "20000"], "--idle-spin must be in 0...10000 µs"),
            (["--thread-nice", "20"], "--thread-nice must be in -20...19, got 20"),
            (["--thread-nice", "-21"], "--thread-nice must be in -20...19, got -21"),
            (["nop", "--engine", "nio"], "engine nio runs none of the selected workloads (nop)"),
            (["--engine", "epoll"], "The value 'epoll' is invalid for '--engine <engine>'"),
            (["storage-read", "--batch", "0"], "--batch must divide the concurrency (32), got 0"),
            (["storage-read", "--batch", "5"], "--batch must divide the concurrency (32), got 5"),
            (["storage-read", "--batch", "8", "--concurrency", "4"], "--batch must divide the concurrency (4), got 8"),
            (["echo", "--batch", "4"], "--batch applies to storage-read only"),
            (["udp-echo", "--message-size", "65508"],
             "udp-echo sends each message as one datagram: --message-size must be at most 65507, got 65508"),
        ]
        expectRefused(BenchCommand.self, cases)
    }

    @Test func threadNiceTakesNegativeValuesAndReachesEveryDedicatedThread() async throws {
        // A negative value is the option's value, not another option.
        #expect(try BenchCommand.parse(["nop", "--thread-nice", "-10"]).threadNice == -10)
        // Raising nice needs no privilege: every engine with its own
        // event-loop thread starts at it and runs.
        let raised = min(curing_thread_nice() + 1, 19)
        for (workload, engine) in [(Workload.nop, Engine.uring), (.nop, .floor), (.nop, .uringLocal), (.echo, .nio), (.echo, .nioAsync), (.echo, .uring)] {
            let settings = BenchSettings(
                workload: workload, concurrency: 2, duration: .milliseconds(50), idleSpin: nil, threadNice: raised)
            let result = try await BenchRunner.run(settings, engine: engine, fixture: nil)
            #expect(result.operationsPerSecond > 0, "\(result.line)")
        }
    }

    @Test func readPacingIsOnUnlessTurnedOffAndReachesOurLoops() throws {
        for (arguments, paced) in [([String](), true), (["--no-read-pacing"], false), (["--read-pacing"], true)] {
            let command = try BenchCommand.parse(["storage-read", "--direct"] + arguments)
            #expect(command.readPacing == paced, "\(arguments)")
            let settings = BenchSettings(
                workload: .storageRead, concurrency: 1, duration: .milliseconds(1), idleSpin: nil, readPacing: command.readPacing)
            #expect(BenchRunner.loopConfiguration(settings).pacesDeviceReads == paced, "\(arguments)")
        }
    }

    @Test func idleFutexIsOnUnlessTurnedOffAndReachesOurLoops() throws {
        for (arguments, futex) in [([String](), true), (["--no-idle-futex"], false), (["--idle-futex"], true)] {
            let command = try BenchCommand.parse(["wake"] + arguments)
            #expect(command.idleFutex == futex, "\(arguments)")
            for workload in [Workload.wake, .echo] {
                let settings = BenchSettings(
                    workload: workload, concurrency: 1, duration: .milliseconds(1), idleSpin: nil, idleFutex: command.idleFutex)
                #expect(BenchRunner.loopConfiguration(settings).sleepsOnFutexWhenIdle == futex, "\(arguments)")
            }
        }
    }

    @Test func readyFirstIsAllUnlessChosenAndReachesTheEchoServersNetwork() throws {
        let choices: [([String], ReadyFirst)] = [
            ([], .all), (["--ready-first", "none"], []), (["--ready-first", "receives"], .receives),
            (["--ready-first", "all"], .all), (["--ready-first", "sends"], .sends),
        ]
        for (arguments, readyFirst) in choices {
            let command = try BenchCommand.parse(["echo"] + arguments)
            #expect(command.readyFirst.directions == readyFirst, "\(arguments)")
            let settings = BenchSettings(
                workload: .echo, concurrency: 1, duration: .milliseconds(1), idleSpin: nil,
                readyFirst: command.readyFirst.directions)
            #expect(BenchRunner.echoConfiguration(settings).readyFirst == readyFirst, "\(arguments)")
        }
        #expect(throws: (any Error).self) { try BenchCommand.parse(["echo", "--ready-first", "sometimes"]) }
    }

    @Test func aDirectoryThatCannotHoldTheFilesIsNamed() async throws {
        let command = try BenchCommand.parse(["storage-read", "--directory", "/nonexistent/uring", "--seconds", "0.1"])
        do {
            try await command.run()
            Issue.record("the benchmark ran without its directory")
        } catch {
            #expect("\(error)".contains("cannot create a benchmark directory in /nonexistent/uring: No such file or directory"), "\(error)")
        }
    }

    /// --direct: the read blob is made for direct I/O, and every engine
    /// reads its data at the same place (past the 4096-byte header).
    @Test func storageReadEnginesRunDirectOnOneLayout() async throws {
        let fixture = try #require(try await StorageFixture.make(for: .storageRead, directory: "/tmp", fileSize: 4 << 20, direct: true))
        do {
            #expect(fixture.readBlob.isDirect)
            #expect(fixture.dataOffset == 4096)
            // The blob's logical block 3 is the file's bytes at 3 * 4096 + dataOffset.
            let viaBlob = try await fixture.readBlob.read(at: 3 * 4096, count: 4096)
            let fd = open(fixture.readPath, O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            var raw = [UInt8](repeating: 0, count: 4096)
            #expect(pread(fd, &raw, 4096, off_t(3 * 4096 + fixture.dataOffset)) == 4096)
            #expect(viaBlob == raw)
            #expect(viaBlob.contains { $0 != 0 })
            for engine in Workload.storageRead.engines {
                let settings = BenchSettings(workload: .storageRead, concurrency: 4, duration: .milliseconds(100), idleSpin: nil, direct: true)
                let result = try await BenchRunner.run(settings, engine: engine, fixture: fixture)
                #expect(result.operationsPerSecond > 0, "\(result.line)")
            }
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    /// --batch: our engines read B blocks per call from C/B tasks, each
    /// block counted; the line says the batch, the peers' lines do not.
    @Test func storageReadInBatchesCountsEveryBlock() async throws {
        #expect(try BenchCommand.parse(["storage-read", "--batch", "8"]).batch == 8)
        let fixture = try #require(try await StorageFixture.make(for: .storageRead, directory: "/tmp", fileSize: 4 << 20))
        do {
            for engine in [Engine.uring, .uringLocal, .nio] {
                let settings = BenchSettings(workload: .storageRead, concurrency: 8, duration: .milliseconds(100), idleSpin: nil, batch: 4)
                let result = try await BenchRunner.run(settings, engine: engine, fixture: fixture)
                #expect(result.operationsPerSecond > 0, "\(result.line)")
                #expect(result.line.hasSuffix(" batch=4") == (engine != .nio), "\(result.line)")
            }
            // Two tasks of four blocks each: every call adds four operations.
            let settings = BenchSettings(workload: .storageRead, concurrency: 8, duration: .milliseconds(1), idleSpin: nil, batch: 4)
            let measurement = try await StorageEngines.readInBatches(fixture.readBlob, settings, fileSize: fixture.fileSize)
            #expect(measurement.sampler.operations >= 8 && measurement.sampler.operations % 4 == 0, "\(measurement.sampler.operations)")
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    @Test func theLegendSaysWhatEachEngineIsOnceInTheTablesOrder() {
        let measurement = Measurement(sampler: LatencySampler(), elapsed: .seconds(1))
        let results = [(Workload.nop, Engine.uring), (.nop, .floor), (.echo, .uring), (.echo, .nioAsync)].map {
            BenchResult(workload: $0.0, engine: $0.1, concurrency: 1, measurement: measurement)
        }
        let lines = ResultTable.legend(results).split(separator: "\n").map(String.init)
        let expected: [Engine] = [.uring, .floor, .nioAsync]
        #expect(lines.count == expected.count, "\(lines)")
        for (line, engine) in zip(lines, expected) {
            #expect(line.hasPrefix(engine.rawValue + " ") && line.hasSuffix("  " + engine.summary), "\(line)")
        }
        // Every engine has its own line.
        #expect(Set(Engine.allCases.map(\.summary)).count == Engine.allCases.count)
    }

    @Test(arguments: Workload.allCases)
    func everyEngineRunsAndReportsItsLine(_ workload: Workload) async throws {
        let fixture = try await StorageFixture.make(for: workload, directory: "/tmp", fileSize: 4 << 20)
        do {
            try await runEveryEngine(of: workload, fixture: fixture)
        } catch {
            await fixture?.tearDown()
            throw error
        }
        await fixture?.tearDown()
    }

    private func runEveryEngine(of workload: Workload, fixture: StorageFixture?) async throws {
        for engine in workload.engines {
            for pinned in [.uringLocal, .uringGlobal].contains(engine) || (workload == .echo && [.nio, .nioAsync].contains(engine)) ? [false, true] : [false] {
                let settings = BenchSettings(
                    workload: workload, concurrency: workload == .wake ? 1 : 4, duration: .milliseconds(100),
                    idleSpin: nil, pinLoops: pinned)
                let result = try await BenchRunner.run(settings, engine: engine, fixture: fixture)
                #expect(result.operationsPerSecond > 0, "\(workload.rawValue)/\(engine.rawValue)")
                #expect(result.p50Microseconds > 0 && result.p99Microseconds >= result.p50Microseconds, "\(result.line)")
                let prefix = "bench workload=\(workload.rawValue) engine=\(engine.rawValue) conc=\(settings.concurrency) ops_per_s="
                #expect(result.line.hasPrefix(prefix), "\(result.line)")
                #expect(result.line.contains(" p50_us=") && result.line.contains(" p99_us="), "\(result.line)")
                if (workload == .nop || workload == .wake) && (engine == .uring || engine == .uringLocal) {
                    for counter in [" eventfd_per_op=", " futex_per_op=", " enter_per_op=", " wake_cqe_per_op="] {
                        #expect(result.line.contains(counter), "\(result.line)")
                    }
                }
            }
        }
    }
}
