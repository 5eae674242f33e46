// The raw ring against the real kernel: each operation family end to end.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing

@Suite struct RingTests {
    @Test func nopRoundTrip() throws {
        let ring = try Ring(entries: 8)
        #expect(ring.push(.nop().userData(42)))
        let completions = try ring.complete(1)
        #expect(completions == [CompletionEntry(userData: 42, result: 0, flags: 0)])
    }

    @Test func entriesRoundUpToPowerOfTwo() throws {
        let ring = try Ring(entries: 5)
        #expect(ring.submissionQueue.capacity == 8)
        #expect(Ring.roundUpToPowerOfTwo(1) == 1)
        #expect(Ring.roundUpToPowerOfTwo(129) == 256)
        let sized = try Ring(entries: 4, options: RingOptions(completionQueueEntries: 64))
        #expect(sized.completionQueue.capacity == 64)
    }

    @Test func invalidSizesAreRejected() {
        #expect(throws: IOError.self) { try Ring(entries: 0) }
        #expect(throws: IOError.self) { try Ring(entries: Ring.maximumEntries + 1) }
        #expect(throws: IOError.self) { try Ring(entries: 8, options: RingOptions(completionQueueEntries: 4)) }
    }

    @Test func featuresAndProbe() throws {
        let ring = try Ring(entries: 4)
        #expect(ring.features.contains(.extendedArgument))
        let probe = try ring.probe()
        #expect(probe.supports(.nop))
        #expect(probe.supports(.read))
        #expect(probe.lastOpcode >= Opcode.sendZeroCopy.rawValue)
    }

    @Test func writeThenReadAtOffsets() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        let payload = Array("hello, io_uring".utf8)
        var readBack = [UInt8](repeating: 0, count: payload.count)
        try payload.withUnsafeBytes { source in
            ring.push(.write(fd: fd, from: source.baseAddress!, count: UInt32(source.count), offset: 100).userData(1))
            let done = try ring.complete(1)
            #expect(done.first?.result == Int32(payload.count))
        }
        try readBack.withUnsafeMutableBytes { target in
            ring.push(.read(fd: fd, into: target.baseAddress!, count: UInt32(target.count), offset: 100).userData(2))
            let done = try ring.complete(1)
            #expect(done.first?.result == Int32(payload.count))
        }
        #expect(readBack == payload)
    }

    @Test func vectoredWriteThenRead() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        let first = UnsafeMutableRawBufferPointer.allocate(byteCount: 3, alignment: 1)
        let second = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { first.deallocate(); second.deallocate() }
        first.copyBytes(from: Array("abc".utf8))
        second.copyBytes(from: Array("defg".utf8))
        var vectors = [iovec(iov_base: first.baseAddress, iov_len: 3), iovec(iov_base: second.baseAddress, iov_len: 4)]
        try vectors.withUnsafeBufferPointer { iovecs in
            ring.push(.writev(fd: fd, iovecs: iovecs.baseAddress!, iovecCount: 2, offset: 10))
            let done = try ring.complete(1)
            #expect(done.first?.result == 7)
        }
        first.initializeMemory(as: UInt8.self, repeating: 0)
        second.initializeMemory(as: UInt8.self, repeating: 0)
        // Read back starting one byte later: "bcd" + "efg" and end of file.
        try vectors.withUnsafeMutableBufferPointer { iovecs in
            ring.push(.readv(fd: fd, iovecs: iovecs.baseAddress!, iovecCount: 2, offset: 11))
            let done = try ring.complete(1)
            #expect(done.first?.result == 6)
        }
        #expect(Array(first) == Array("bcd".utf8))
        #expect(Array(second.prefix(3)) == Array("efg".utf8))
    }

    @Test func fsyncAndDatasync() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        ring.push(.fsync(fd: fd).userData(1))
        ring.push(.fsync(fd: fd, dataOnly: true).userData(2))
        let done = try ring.complete(2)
        #expect(Set(done.map(\.userData)) == [1, 2])
        #expect(done.allSatisfy { $0.result == 0 })
        // On a bad descriptor the error comes back in the CQE.
        ring.push(.fsync(fd: -1).userData(3))
        #expect(try ring.complete(1).first?.result == -EBADF)
    }

    @Test func ftruncateSetsTheSizeWhereTheKernelHasIt() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        ring.push(.ftruncate(fd: fd, length: 12345).userData(1))
        let result = try ring.complete(1).first?.result
        if try ring.probe().supports(.ftruncate) {
            #expect(result == 0)
            var info = stat()
            #expect(fstat(fd, &info) == 0 && info.st_size == 12345)
        } else {
            #expect(result == -EINVAL, "a kernel without the opcode")
        }
    }

    @Test func renameatMovesAPathAndCanRefuseToReplace() throws {
        let ring = try Ring(entries: 8)
        let directory = try temporaryDirectory()
        defer { unlink(directory + "/b"); unlink(directory + "/c"); rmdir(directory) }
        for name in ["a", "c"] {
            let fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            try #require(fd >= 0)
            close(fd)
        }
        func rename(_ from: String, _ to: String, flags: UInt32 = 0) throws -> Int32? {
            try from.withCString { old in
                try to.withCString { new in
                    ring.push(.renameat(directory: AT_FDCWD, path: old, newDirectory: AT_FDCWD, newPath: new, flags: flags).userData(1))
                    return try ring.complete(1).first?.result
                }
            }
        }
        #expect(try rename(directory + "/a", directory + "/b") == 0)
        #expect(access(directory + "/a", F_OK) != 0 && access(directory + "/b", F_OK) == 0)
        #expect(try rename(directory + "/b", directory + "/c", flags: CURING_RENAME_NOREPLACE) == -EEXIST)
        #expect(try rename(directory + "/a", directory + "/b") == -ENOENT)
    }

    @Test func socketPairSendReceive() throws {
        let ring = try Ring(entries: 8)
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let message = Array("ping".utf8)
        var received = [UInt8](repeating: 0, count: 16)
        try received.withUnsafeMutableBytes { target in
            ring.push(.recv(fd: right, into: target.baseAddress!, count: UInt32(target.count)).userData(2))
            try message.withUnsafeBytes { source in
                ring.push(.send(fd: left, from: source.baseAddress!, count: UInt32(source.count)).userData(1))
                let done = try ring.complete(2)
                #expect(done.first { $0.userData == 1 }?.result == 4)
                #expect(done.first { $0.userData == 2 }?.result == 4)
            }
        }
        #expect(Array(received.prefix(4)) == message)
    }

    @Test func multishotPollOnEventFD() throws {
        let ring = try Ring(entries: 8)
        let event = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        try #require(event >= 0)
        defer { close(event) }
        ring.push(.pollAdd(fd: event, events: UInt32(POLLIN), multishot: true).userData(7))
        _ = try ring.submit()
        for _ in 0..<3 {
            var one: UInt64 = 1
            #expect(write(event, &one, 8) == 8)
            let done = try ring.complete(1)
            #expect(done.count == 1)
            #expect(done.first?.userData == 7)
            #expect(done.first?.hasMore == true)
            var drained: UInt64 = 0
            #expect(read(event, &drained, 8) == 8)
        }
    }

    @Test func cancelPendingReceive() throws {
        let ring = try Ring(entries: 8)
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        var buffer = [UInt8](repeating: 0, count: 8)
        try buffer.withUnsafeMutableBytes { target in
            ring.push(.recv(fd: right, into: target.baseAddress!, count: 8).userData(1))
            _ = try ring.submit()
            ring.push(.cancel(target: 1).userData(2))
            let done = try ring.complete(2)
            #expect(done.first { $0.userData == 1 }?.result == -ECANCELED)
            #expect(done.first { $0.userData == 2 }?.result == 0)
        }
    }

    @Test func waitTimeoutOnEmptyRingReportsExpiry() throws {
        let ring = try Ring(entries: 4)
        let result = try ring.submitAndWait(want: 1, timeout: .milliseconds(20))
        #expect(result == .timedOut)
    }

    @Test func fullSubmissionQueueRefusesPush() throws {
        let ring = try Ring(entries: 4)
        for index in 0..<4 { #expect(ring.push(.nop().userData(UInt64(index)))) }
        #expect(ring.submissionQueue.isFull)
        #expect(ring.submissionQueue.freeCount == 0)
        #expect(!ring.push(.nop()))
        #expect(try ring.complete(4).count == 4)
        #expect(ring.submissionQueue.freeCount == 4)
    }

    @Test func waitOnDeadRingFDIsARealError() throws {
        let ring = try Ring(entries: 4)
        // Put an CURING_O_PATH descriptor in place of the ring's: every syscall on it
        // fails with EBADF, as if closed, but the number is never free for
        // another test to reuse.
        let pathFD = open("/", CURING_O_PATH | O_CLOEXEC)
        try #require(pathFD >= 0)
        try #require(dup2(pathFD, ring.fd) == ring.fd)
        close(pathFD)
        do {
            let result = try ring.submitAndWait(want: 1, timeout: .milliseconds(10))
            Issue.record("expected an error, got \(result)")
        } catch {
            #expect(error.errno == EBADF)
            #expect(error.operation == "io_uring_enter")
        }
    }

    @Test func linkedEntriesRunInOrder() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        let payload = Array("linked".utf8)
        var readBack = [UInt8](repeating: 0, count: payload.count)
        try payload.withUnsafeBytes { source in
            try readBack.withUnsafeMutableBytes { target in
                ring.push(.write(fd: fd, from: source.baseAddress!, count: 6, offset: 0).userData(1).flags(.link))
                ring.push(.fsync(fd: fd).userData(2).flags(.link))
                ring.push(.read(fd: fd, into: target.baseAddress!, count: 6, offset: 0).userData(3))
                let done = try ring.complete(3)
                #expect(done.map(\.userData) == [1, 2, 3])
                #expect(done.map(\.result) == [6, 0, 6])
            }
        }
        #expect(readBack == payload)
        // A failing link cancels the rest of the chain.
        ring.push(.fsync(fd: -1).userData(4).flags(.link))
        ring.push(.nop().userData(5))
        let failed = try ring.complete(2)
        #expect(failed.map(\.result) == [-EBADF, -ECANCELED])
    }

    @Test func setupErrorsExplainThemselves() {
        let error = IOError("io_uring_setup", errno: -EPERM)
        #expect(error.description.contains("kernel.io_uring_disabled"))
        #expect(IOError("io_uring_setup", errno: ENOSYS).description.contains("uname -r"))
    }

    @Test func singleIssuerWithDeferredTaskRun() throws {
        let ring = try Ring(entries: 8, options: RingOptions(flags: [.singleIssuer, .deferTaskRun]))
        ring.push(.nop().userData(9))
        #expect(try ring.complete(1).first?.userData == 9)
        #expect(throws: IOError.self) { try Ring(entries: 8, options: RingOptions(flags: [.deferTaskRun])) }
    }

    @Test func aRingCreatedDisabledBelongsToTheThreadThatEnablesIt() async throws {
        // What `IOLoop.start` relies on: the starter creates the ring (and
        // reports its errors), the loop thread enables it and is its issuer.
        let ring = try Ring(entries: 8, options: RingOptions(flags: [.startsDisabled, .singleIssuer, .deferTaskRun]))
        ring.push(.nop().userData(1))
        await expectIOError(.errno(EBADFD)) { try ring.submit() }
        // Enabled on a thread of its own, which then submits and reaps the NOP
        // pushed above (still in the queue: the kernel refused to take it).
        final class Shared: @unchecked Sendable {  // used by one thread at a time
            let ring: Ring
            init(_ ring: Ring) { self.ring = ring }
        }
        let shared = Shared(ring)
        let reaped = await onNewThread { () -> Result<[UInt64], any Error> in
            Result {
                try shared.ring.enable()
                return try shared.ring.complete(1).map(\.userData)
            }
        }
        #expect(try reaped.get() == [1])
        // The enabling thread is the only issuer now; this one is refused.
        ring.push(.nop().userData(2))
        await expectIOError(.errno(EEXIST)) { try ring.submit() }
        await expectIOError(.errno(EEXIST)) { try ring.enable() }  // nor register anything
    }

    @Test func submittingWithoutCompletionWorkPostsOnlyWhatCompletedInline() throws {
        let ring = try Ring(entries: 8, options: RingOptions(flags: [.singleIssuer, .deferTaskRun]))
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        defer { buffer.deallocate() }
        // A read of an empty pipe waits; the byte that ends it arrives as
        // deferred completion work for this thread.
        let read = SubmissionEntry.read(fd: fds[0], into: buffer, count: 1, offset: UInt64.max).userData(1)
        #expect(read.opcode == .read)
        ring.push(read)
        try ring.submitWithoutCompletionWork()
        #expect(ring.completionQueue.readyCount == 0)
        var byte: UInt8 = 7
        #expect(write(fds[1], &byte, 1) == 1)
        // Submitting a NOP this way posts the NOP alone...
        ring.push(.nop().userData(2))
        try ring.submitWithoutCompletionWork()
        var first: [UInt64] = []
        ring.completionQueue.forEach { first.append($0.userData) }
        #expect(first == [2])
        // ...and the read's completion waits for an enter with GETEVENTS.
        let rest = try ring.complete(1)
        #expect(rest.map(\.userData) == [1])
        #expect(rest.first?.result == 1)
        #expect(buffer.load(as: UInt8.self) == 7)
    }

    @Test func registeredFilesAndBuffers() throws {
        let ring = try Ring(entries: 8)
        let fd = try temporaryFile()
        defer { close(fd) }
        try ring.registerFiles([fd, -1])
        try ring.updateFiles(at: 1, [fd])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: Array(repeating: UInt8(0x5a), count: 4096))
        try ring.registerBuffers([buffer])
        ring.push(.writeFixed(fd: 1, from: buffer.baseAddress!, count: 4096, offset: 0, bufferIndex: 0).flags(.fixedFile).userData(1))
        #expect(try ring.complete(1).first?.result == 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        ring.push(.readFixed(fd: 0, into: buffer.baseAddress!, count: 4096, offset: 0, bufferIndex: 0).flags(.fixedFile).userData(2))
        #expect(try ring.complete(1).first?.result == 4096)
        #expect(buffer.allSatisfy { $0 == 0x5a })
        try ring.unregisterBuffers()
        try ring.unregisterFiles()
    }

    @Test func registeredEventFDIsSignalled() throws {
        let ring = try Ring(entries: 8)
        let event = eventfd(0, Int32(EFD_CLOEXEC))
        try #require(event >= 0)
        defer { close(event) }
        try ring.registerEventFD(event)
        ring.push(.nop())
        _ = try ring.complete(1)
        var count: UInt64 = 0
        #expect(read(event, &count, 8) == 8)
        #expect(count >= 1)
        try ring.unregisterEventFD()
    }
}

@Suite struct CompletionOverflowTests {
    @Test func overflowedCompletionsAreHeldBackAndFlushed() throws {
        // An 8-entry CQ, 16 NOPs submitted before any is reaped: the kernel
        // holds 8 back (NODROP) and flags the overflow; entering with
        // GETEVENTS after reaping hands them over. Nothing is lost.
        let ring = try Ring(entries: 8, options: RingOptions(completionQueueEntries: 8))
        try #require(ring.features.contains(.noDrop))
        for index in 0..<8 { ring.push(.nop().userData(UInt64(index))) }
        _ = try ring.submit()
        for index in 8..<16 { ring.push(.nop().userData(UInt64(index))) }
        _ = try ring.submit()
        #expect(ring.completionQueue.readyCount == 8)
        #expect(ring.submissionQueue.completionQueueOverflowed)
        var seen: [UInt64] = []
        while seen.count < 16 {
            ring.completionQueue.forEach { seen.append($0.userData) }
            if seen.count < 16 { _ = try ring.submitAndWait(want: 1, timeout: .seconds(5)) }
        }
        #expect(seen.sorted() == Array(0..<16))
        #expect(!ring.submissionQueue.completionQueueOverflowed)
    }
}
