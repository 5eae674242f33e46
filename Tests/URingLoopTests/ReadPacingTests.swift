// The loop's read pacing end to end: reads that wait (here on empty pipes,
// which complete after the call that submitted them, as a device's do) go
// to the kernel in pairs once the loop has seen four such calls in a row;
// page-cache reads, done inside the call, keep the kernel's batching.
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct ReadPacingTests {
    static let readers = 16
    static let rounds = 8

    /// Runs `rounds` rounds of `readers` concurrent one-byte reads, one per
    /// pipe, and checks every read got its own pipe's byte. The reads are
    /// child tasks of one task on the loop, so each round's reads are staged
    /// in one pass. Returns the loop's paced submissions after each round.
    private func pipeRounds(_ handle: Handle) async throws -> [UInt64] {
        var pipes: [(read: Int32, write: Int32)] = []
        defer { for pipe in pipes { close(pipe.read); close(pipe.write) } }
        for _ in 0..<Self.readers {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            pipes.append((fds[0], fds[1]))
        }
        let readEnds = pipes.map(\.read)
        var paced: [UInt64] = []
        for round in 0..<Self.rounds {
            let reader = Task(executorPreference: handle.executor) {
                try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                    for (index, fd) in readEnds.enumerated() {
                        group.addTask { (index, try await handle.read(from: fd, at: nil, count: 1)) }
                    }
                    var bytes = [UInt8](repeating: 0, count: readEnds.count)
                    for try await (index, read) in group { bytes[index] = read[0] }
                    return bytes
                }
            }
            try await until("round \(round)'s reads in flight", seconds: 300) { handle.statistics.pendingRequests >= UInt64(Self.readers) }
            for (index, pipe) in pipes.enumerated() {
                var byte = UInt8(truncatingIfNeeded: round * 31 + index)
                #expect(write(pipe.write, &byte, 1) == 1)
            }
            let bytes = try await reader.value
            #expect(bytes == (0..<Self.readers).map { UInt8(truncatingIfNeeded: round * 31 + $0) })
            paced.append(handle.statistics.pacedSubmissions)
        }
        return paced
    }

    @Test func readsThatWaitGoInPairsOnceTheLoopHasLearned() async throws {
        let handle = try IOLoop.start(LoopConfiguration())
        let paced = try await pipeRounds(handle)
        await handle.shutdown()
        // Four rounds teach the loop (one enter each); from the fifth, each
        // round's sixteen reads go in eight calls of two.
        let learning = ReadPacer.startAt
        #expect(paced[learning - 1] == 0)
        #expect(paced.last == UInt64(Self.readers / 2 * (Self.rounds - learning)))
    }

    /// Turned off, or on a ring without DEFER_TASKRUN (where an enter may
    /// post earlier completions, so the loop cannot tell), nothing is paced.
    @Test(arguments: ["pacesDeviceReads off", "no DEFER_TASKRUN"])
    func withoutPacingTheLoopKeepsEveryReadInOneBatch(_ setting: String) async throws {
        var configuration = LoopConfiguration()
        if setting == "pacesDeviceReads off" { configuration.pacesDeviceReads = false } else { configuration.singleIssuer = false }
        let handle = try IOLoop.start(configuration)
        let paced = try await pipeRounds(handle)
        await handle.shutdown()
        #expect(paced.last == 0)
    }

    @Test func pageCacheReadsKeepTheKernelsBatching() async throws {
        let handle = try IOLoop.start(LoopConfiguration())
        let fd = try temporaryFile()
        defer { close(fd) }
        let content = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(pwrite(fd, content, content.count, 0) == content.count)
        for _ in 0..<Self.rounds {
            let bytes = try await Task(executorPreference: handle.executor) {
                try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                    for index in 0..<Self.readers {
                        group.addTask { (index, try await handle.read(from: fd, at: UInt64(index * 256), count: 256)) }
                    }
                    var bytes = [[UInt8]](repeating: [], count: Self.readers)
                    for try await (index, read) in group { bytes[index] = read }
                    return bytes
                }
            }.value
            #expect(bytes == (0..<Self.readers).map { Array(content[$0 * 256..<($0 + 1) * 256]) })
        }
        await handle.shutdown()
        #expect(handle.statistics.pacedSubmissions == 0)
        #expect(handle.statistics.requestsCompleted == UInt64(Self.readers * Self.rounds))
    }
}
