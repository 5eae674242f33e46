// Metadata through the ring: open, mkdir, unlink and rmdir resolve paths in
// the kernel, report the kernel's errors with the path, and never lose a
// descriptor.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct PathOperationTests {
    /// A FIFO's open waits for its other end; on the caller's thread that
    /// held a thread of the cooperative pool (two of them, the whole pool)
    /// until a partner came, if ever. It opens as io_uring's own open does.
    @Test func aFIFOOpensWithoutWaitingForItsOtherEnd() async throws {
        let directory = try temporaryDirectory()
        let fifo = directory + "/fifo"
        defer {
            unlink(fifo)
            rmdir(directory)
        }
        try #require(mkfifo(fifo, 0o600) == 0)
        let handle = try smallLoop()
        // No writer: write-only is refused at once, naming the path...
        await expectPathError(.errno(ENXIO), path: fifo) {
            _ = try await within(30, "a write-only open of a FIFO without a reader") { try await handle.open(fifo, flags: O_WRONLY) }
        }
        // ...and read-only opens at once, as a blocking descriptor.
        let reader = try await within(30, "a read-only open of a FIFO without a writer") { try await handle.open(fifo, flags: O_RDONLY) }
        #expect(fcntl(reader, F_GETFL) & O_NONBLOCK == 0, "O_NONBLOCK left on a descriptor opened without it")
        #expect(fcntl(reader, F_GETFD) & FD_CLOEXEC != 0)
        // With a reader, write-only opens too, keeping what the caller asked for.
        let writer = try await within(30, "a write-only open of a FIFO with a reader") {
            try await handle.open(fifo, flags: O_WRONLY | O_APPEND | O_NONBLOCK)
        }
        #expect(fcntl(writer, F_GETFL) & (O_APPEND | O_NONBLOCK) == O_APPEND | O_NONBLOCK)
        #expect(write(writer, "x", 1) == 1)
        var byte: UInt8 = 0
        #expect(read(reader, &byte, 1) == 1 && byte == UInt8(ascii: "x"))
        close(writer)
        close(reader)
        // An O_PATH open (which openat2 refuses O_NONBLOCK) still takes
        // the warm path: no request reaches the ring.
        let before = handle.statistics.requestsCompleted
        let path = try await handle.open(fifo, flags: CURING_O_PATH)
        #expect(fcntl(path, F_GETFL) & CURING_O_PATH != 0)
        close(path)
        await handle.shutdown()
        #expect(handle.statistics.requestsCompleted == before, "an O_PATH open went through the ring")
    }

    @Test func openCreateAndRemoveWithoutBlockingOnTheDisk() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let handle = try smallLoop()
        let path = directory + "/file"

        let fd = try await handle.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "every descriptor the ring opens is close-on-exec")
        var info = stat()
        #expect(fstat(fd, &info) == 0 && info.st_mode & 0o777 == 0o600 && (info.st_mode & S_IFMT) == S_IFREG)
        try await handle.write(Array("hello".utf8), to: fd, at: 0)
        close(fd)
        // A warm path opens from the kernel's caches on this thread...
        let again = try await handle.open(path, flags: O_RDONLY)
        #expect(try await handle.read(from: again, at: 0, count: 5) == Array("hello".utf8))
        close(again)
        // ...while one the cached lookup refuses (it never truncates) goes
        // through the ring.
        let truncating = try await handle.open(path, flags: O_WRONLY | O_TRUNC)
        #expect(fstat(truncating, &info) == 0 && info.st_size == 0 && fcntl(truncating, F_GETFD) & FD_CLOEXEC != 0)
        close(truncating)

        try await handle.makeDirectory(directory + "/sub", mode: 0o700)
        #expect(stat(directory + "/sub", &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR && info.st_mode & 0o777 == 0o700)
        try await handle.removeFile(path)
        try await handle.removeDirectory(directory + "/sub")
        #expect(access(path, F_OK) != 0 && access(directory + "/sub", F_OK) != 0)
        await handle.shutdown()
        // The creating and the truncating open, a write, a read, mkdir,
        // unlink and rmdir (and the warm open, where the caches cannot tell).
        #expect(handle.statistics.requestsCompleted == (kernelAnswersFromCache(directory) ? 7 : 8))
    }

    @Test func relativePathsResolveAgainstTheGivenDirectory() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let handle = try smallLoop()
        let directoryFD = try await handle.open(directory, flags: O_RDONLY | O_DIRECTORY)
        defer { close(directoryFD) }
        try await handle.makeDirectory("inner", relativeTo: directoryFD)
        let fd = try await handle.open("inner/file", flags: O_WRONLY | O_CREAT, relativeTo: directoryFD)
        close(fd)
        #expect(access(directory + "/inner/file", F_OK) == 0)
        try await handle.removeFile("inner/file", relativeTo: directoryFD)
        try await handle.removeDirectory("inner", relativeTo: directoryFD)
        #expect(access(directory + "/inner", F_OK) != 0)
        await handle.shutdown()
        // mkdir, the creating open, unlink and rmdir; the directory's own
        // open (O_DIRECTORY, fresh from mkdtemp) too where the caches cannot
        // answer it.
        #expect(handle.statistics.requestsCompleted == (kernelAnswersFromCache(directory) ? 4 : 5))
    }

    @Test func failuresAreTheKernelsErrorsNamingThePath() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let handle = try smallLoop()
        let missing = directory + "/missing"

        await expectPathError(.errno(ENOENT), path: missing) { _ = try await handle.open(missing, flags: O_RDONLY) }
        await expectPathError(.errno(ENOENT), path: missing) { try await handle.removeFile(missing) }
        await expectPathError(.errno(ENOENT), path: missing + "/x") { try await handle.makeDirectory(missing + "/x") }
        await expectPathError(.errno(EEXIST), path: directory) { try await handle.makeDirectory(directory) }
        await expectPathError(.errno(EISDIR), path: directory) { try await handle.removeFile(directory) }
        // A file where a directory is expected, and a directory with entries.
        let file = try await handle.open(directory + "/file", flags: O_WRONLY | O_CREAT)
        close(file)
        defer { unlink(directory + "/file") }
        await expectPathError(.errno(ENOTDIR), path: directory + "/file/x") {
            _ = try await handle.open(directory + "/file/x", flags: O_RDWR | O_CREAT)
        }
        await expectPathError(.errno(ENOTEMPTY), path: directory) { try await handle.removeDirectory(directory) }
        #expect(IOError("rmdir", errno: ENOTEMPTY).description.hasPrefix("rmdir failed: ENOTEMPTY ("))
        await expectPathError(.errno(EEXIST), path: directory + "/file") {
            _ = try await handle.open(directory + "/file", flags: O_RDWR | O_CREAT | O_EXCL)
        }
        // The kernel would read a path with a NUL inside only up to it.
        await expectPathError(.invalidArgument("the path contains a NUL byte"), path: directory + "\0/file") {
            try await handle.removeFile(directory + "\0/file")
        }
        #expect(access(directory + "/file", F_OK) == 0)
        await expectPathError(.errno(EBADF), path: "relative") {
            _ = try await handle.open("relative", flags: O_RDONLY, relativeTo: 987_654)
        }
        await handle.shutdown()
    }

    @Test func renameMovesReplacesOrRefusesToReplace() async throws {
        let directory = try temporaryDirectory()
        let other = try temporaryDirectory()
        defer {
            for name in ["a", "b", "c", "d"] { unlink(directory + "/" + name) }
            unlink(other + "/e")
            rmdir(directory)
            rmdir(other)
        }
        let handle = try smallLoop()
        func make(_ path: String, _ byte: UInt8) async throws {
            let fd = try await handle.open(path, flags: O_WRONLY | O_CREAT)
            try await handle.write([byte], to: fd, at: 0)
            close(fd)
        }
        func content(_ path: String) async throws -> [UInt8] {
            let fd = try await handle.open(path, flags: O_RDONLY)
            defer { close(fd) }
            return try await handle.read(from: fd, at: 0, count: 1)
        }
        try await make(directory + "/a", 1)
        try await make(directory + "/b", 2)
        // Over an existing name: one step, the old file gone.
        try await handle.rename(directory + "/a", to: directory + "/b")
        #expect(access(directory + "/a", F_OK) != 0)
        #expect(try await content(directory + "/b") == [1])
        // To a new name, relative to directories of their own.
        let from = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        let to = open(other, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(from >= 0 && to >= 0)
        defer { close(from); close(to) }
        try await handle.rename("b", to: "e", relativeTo: from, newRelativeTo: to)
        #expect(try await content(other + "/e") == [1])
        try await handle.rename(other + "/e", to: directory + "/c")

        // Refusing to replace, and the kernel's errors naming both paths.
        try await make(directory + "/d", 4)
        await expectPathError(.errno(EEXIST), path: "\(directory)/c -> \(directory)/d") {
            try await handle.rename(directory + "/c", to: directory + "/d", replacing: false)
        }
        #expect(try await content(directory + "/c") == [1])
        #expect(try await content(directory + "/d") == [4])
        await expectPathError(.errno(ENOENT), path: "\(directory)/a -> \(directory)/d") {
            try await handle.rename(directory + "/a", to: directory + "/d")
        }
        await expectPathError(.invalidArgument("the path contains a NUL byte"), path: directory + "/\0d") {
            try await handle.rename(directory + "/c", to: directory + "/\0d")
        }
        #expect(try await content(directory + "/d") == [4])
        // A cancelled task renames nothing; nor does a loop that is shut down.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await handle.rename(directory + "/c", to: directory + "/d")
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        await handle.shutdown()
        await expectPathError(.shutdown, path: "\(directory)/c -> \(directory)/d") {
            try await handle.rename(directory + "/c", to: directory + "/d")
        }
        await expectPathError(.shutdown, path: directory + "/e") { try await handle.makeDirectory(directory + "/e") }
        await expectPathError(.shutdown, path: directory + "/c") { try await handle.removeFile(directory + "/c") }
        #expect(access(directory + "/c", F_OK) == 0)
        #expect(try readByte(directory + "/d") == 4)
    }

    private func readByte(_ path: String) throws -> UInt8 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        var byte: UInt8 = 0
        try #require(read(fd, &byte, 1) == 1)
        return byte
    }

    @Test func aCancelledTaskOpensNothing() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let handle = try smallLoop()
        let opened = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await handle.open(directory + "/never", flags: O_RDWR | O_CREAT)
        }
        await #expect(throws: CancellationError.self) { _ = try await opened.value }
        #expect(access(directory + "/never", F_OK) != 0)
        // Not from the caches either.
        let reopened = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await handle.open(directory, flags: O_RDONLY | O_DIRECTORY)
        }
        await #expect(throws: CancellationError.self) { _ = try await reopened.value }
        await handle.shutdown()
        // Nor from a loop that is shut down, even when the caches could answer.
        await expectPathError(.shutdown, path: directory) {
            _ = try await handle.open(directory, flags: O_RDONLY | O_DIRECTORY)
        }
    }

    /// Many tasks opening, creating and removing at once, more than the SQ
    /// holds: every call ends once with a live descriptor for its caller.
    /// (That none is lost on cancellation is `DescriptorLeakTests`' job:
    /// counting descriptors needs a process of its own.)
    @Test func concurrentOpensEachGetTheirDescriptor() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let handle = try smallLoop(size: 4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let path = "\(directory)/f\(index)"
                    for _ in 0..<10 {
                        let fd = try await handle.open(path, flags: O_RDWR | O_CREAT)
                        #expect(close(fd) == 0)
                        try await handle.removeFile(path)
                    }
                }
            }
            try await group.waitForAll()
        }
        await handle.shutdown()
        #expect(handle.statistics.requestsCompleted == 64 * 10 * 2)
    }

    private func expectPathError(
        _ reason: IOError.Reason, path: String, _ body: () async throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            try await body()
            Issue.record("expected IOError \(reason), got success", sourceLocation: sourceLocation)
        } catch let error as IOError {
            #expect(error.reason == reason && error.context == path, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected IOError \(reason), got \(error)", sourceLocation: sourceLocation)
        }
    }
}
