// Batches of writes (`Handle.write(batch:)`): every element lands at its
// offset, failures are kept to their element, argument errors come before
// any I/O, and a shut-down loop refuses each element.
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct BatchWriteTests {
    @Test func everyElementLandsAtItsOffset() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try IOLoop.start()
        var generator = SeededGenerator(seed: 11)
        var model = [UInt8](repeating: 0, count: 1 << 20)
        // Disjoint ranges, in a shuffled order: some vectored, some empty.
        var writes: [BatchWrite] = []
        for slot in (0..<128).shuffled(using: &generator) {
            let size = slot % 40 == 0 ? 0 : Int.random(in: 1...8000, using: &generator)
            let offset = slot * 8192
            let bytes = generator.bytes(size, nonZero: true)
            model.replaceSubrange(offset..<(offset + size), with: bytes)
            let cut = Int.random(in: 0...size, using: &generator)
            writes.append(slot % 2 == 0
                ? BatchWrite(IOBuffer(bytes: bytes), to: fd, at: UInt64(offset))
                : BatchWrite([IOBuffer(bytes: bytes[..<cut]), IOBuffer(bytes: bytes[cut...])], to: fd, at: UInt64(offset)))
        }
        let outcomes = try await handle.write(batch: writes)
        #expect(outcomes.count == writes.count)
        for (index, outcome) in outcomes.enumerated() { #expect((try? outcome.get()) != nil, "element \(index): \(outcome)") }
        await handle.shutdown()
        var onDisk = [UInt8](repeating: 0, count: model.count)
        let length = pread(fd, &onDisk, onDisk.count, 0)
        #expect(length > 0)
        #expect(firstDifference(onDisk[..<length], model[..<length]) == nil)
        #expect(model[length...].allSatisfy { $0 == 0 })
    }

    @Test func oneElementsFailureLeavesTheOthersWritten() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try IOLoop.start()
        let outcomes = try await handle.write(batch: [
            BatchWrite(IOBuffer(bytes: [1, 2, 3]), to: fd, at: 0),
            BatchWrite(IOBuffer(bytes: [9]), to: -1, at: 0),        // no such descriptor
            BatchWrite(IOBuffer(bytes: [4, 5]), to: fd, at: 10),
        ])
        await handle.shutdown()
        #expect((try? outcomes[0].get()) != nil && (try? outcomes[2].get()) != nil)
        guard case .failure(let error) = outcomes[1], let error = error as? IOError else {
            Issue.record("\(outcomes[1])")
            return
        }
        #expect(error.reason == .errno(EBADF))
        var onDisk = [UInt8](repeating: 0, count: 12)
        #expect(pread(fd, &onDisk, 12, 0) == 12)
        #expect(onDisk == [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 5])
    }

    @Test func aBadElementIsRefusedBeforeAnyWrite() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try IOLoop.start()
        do {
            _ = try await handle.write(batch: [
                BatchWrite(IOBuffer(bytes: [1]), to: fd, at: 0),
                BatchWrite(IOBuffer(bytes: [2]), to: fd, at: UInt64(Int64.max)),
            ])
            Issue.record("a write past the largest offset was accepted")
        } catch let error as IOError {
            guard case .invalidArgument = error.reason else { throw error }
            #expect(error.context?.contains("write 1 of the batch of 2") == true, "\(error)")
        }
        await handle.shutdown()
        var info = stat()
        #expect(fstat(fd, &info) == 0 && info.st_size == 0, "nothing may be written")
    }

    @Test func afterShutdownEveryElementFailsWithShutdown() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try IOLoop.start()
        await handle.shutdown()
        let outcomes = try await handle.write(batch: (0..<3).map { BatchWrite(IOBuffer(bytes: [7]), to: fd, at: UInt64($0)) })
        for outcome in outcomes {
            guard case .failure(let error) = outcome, let error = error as? IOError else {
                Issue.record("\(outcome)")
                continue
            }
            #expect(error.reason == .shutdown)
        }
    }
}
