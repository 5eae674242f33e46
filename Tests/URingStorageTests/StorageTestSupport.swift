// Temporary storage roots for tests, removed afterwards.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

/// Runs `body` with a Storage on a fresh directory under `parent`, then shuts
/// it down and removes the directory.
func withStorage<T>(in parent: String = "/tmp", _ body: (Storage, String) async throws -> T) async throws -> T {
    let root = try temporaryDirectory("uring-storage-test", in: parent)
    let storage = try Storage(directory: root)
    defer { removeTree(root) }
    do {
        let result = try await body(storage, root)
        await storage.shutdown()
        return result
    } catch {
        await storage.shutdown()
        throw error
    }
}

/// Removes a test's directory tree with plain system calls (without
/// following symlinks), ignoring failures: clean-up only.
func removeTree(_ path: String) {
    for entry in (try? FileSystem.list(path)) ?? [] {
        let child = path + "/" + entry.name
        if unlink(child) != 0 && errno == EISDIR { removeTree(child) }
    }
    rmdir(path)
}

/// Writes raw bytes to a path with plain syscalls (to forge files).
func writeRaw(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0)
    defer { close(fd) }
    try #require(write(fd, bytes, bytes.count) == bytes.count)
}

/// Drops the file's pages from the page cache, trying up to three times (a
/// page busy at the moment stays), and fails the test if any remain.
func evictFromCache(_ path: String, because reason: Comment) throws {
    var resident = -1
    for _ in 0..<3 where resident != 0 { resident = try residentPages(of: path, evictFirst: true) }
    try #require(resident == 0, reason)
}

/// How many of the file's pages are in the page cache, after dropping them
/// first when `evictFirst` (see `residency`).
func residentPages(of path: String, evictFirst: Bool = false) throws -> Int {
    try residency(of: path, evictFirst: evictFirst).filter { $0 }.count
}

/// Which of the file's pages are in the page cache (mincore over a
/// read-only mapping), after dropping them first when `evictFirst`
/// (fdatasync, then POSIX_FADV_DONTNEED, which drops clean pages).
func residency(of path: String, evictFirst: Bool = false) throws -> [Bool] {
    let fd = open(path, O_RDONLY)
    try #require(fd >= 0, "open \(path): errno \(errno)")
    defer { close(fd) }
    if evictFirst {
        try #require(fdatasync(fd) == 0)
        try #require(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
    }
    var info = stat()
    try #require(fstat(fd, &info) == 0)
    let size = Int(info.st_size)
    guard size > 0 else { return [] }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0)
    try #require(mapping != MAP_FAILED, "mmap: errno \(errno)")
    defer { munmap(mapping, size) }
    var pages = [UInt8](repeating: 0, count: (size + page - 1) / page)
    try #require(mincore(mapping, size, &pages) == 0, "mincore: errno \(errno)")
    return pages.map { $0 & 1 == 1 }
}
