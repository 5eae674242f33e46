// storage-read and storage-write for each engine, the same pattern for all:
// C concurrent workers, 4 KiB per operation, the same offsets per worker.
//
// - uring: URingStorage blobs (for --direct, a blob opened for direct I/O).
// - nio: NIOFileSystem on its default thread pool (`readChunk`, `write`,
//   `synchronize`); for --direct, which NIOFileSystem cannot open, `pread`
//   run on that same pool (`NIOThreadPool.singleton`), as NIO users would.
// - pread: blocking pread/pwrite from C dedicated threads.
import CURing
import Glibc
import NIOCore
import NIOPosix
import URing
import URingLoop
import URingStorage
import _NIOFileSystem

enum StorageEngines {
    static let writesPerSync = 64
    /// Each writer appends up to this much, then wraps to the start.
    static let appendSpan: UInt64 = 64 << 20

    // MARK: Reads

    static func read(_ settings: BenchSettings, engine: Engine, fixture: StorageFixture) async throws -> Measurement {
        let size = fixture.fileSize
        let block = UInt64(StorageFixture.blockSize)
        switch engine {
        case .uring where settings.batch > 1:
            return try await readInBatches(fixture.readBlob, settings, fileSize: size)
        case .uring:
            let buffers = (0..<settings.concurrency).map { _ in IOBuffer(capacity: StorageFixture.blockSize, alignment: 4096) }
            let blob = fixture.readBlob
            let offsets = Offsets(settings.concurrency, size: size)
            return try await ClosedLoop.run(concurrency: settings.concurrency, duration: settings.duration) { task in
                _ = try await blob.read(at: offsets.with(task) { $0.next() }, into: buffers[task], options: settings.readOptions)
            }
        case .nio where !settings.direct:
            let file = try await _NIOFileSystem.FileSystem.shared.openFile(forReadingAt: FilePath(fixture.readPath), options: OpenOptions.Read())
            let offsets = Offsets(settings.concurrency, size: size)
            do {
                let measurement = try await ClosedLoop.run(concurrency: settings.concurrency, duration: settings.duration) { task in
                    let offset = Int64(offsets.with(task) { $0.next() } + fixture.dataOffset)
                    _ = try await file.readChunk(fromAbsoluteOffset: offset, length: .bytes(Int64(block)))
                }
                try await file.close()
                return measurement
            } catch {
                try? await file.close()
                throw error
            }
        case .nio:
            let fd = try openDirect(fixture.readPath)
            defer { close(fd) }
            let pool = NIOThreadPool.singleton
            let offsets = Offsets(settings.concurrency, size: size)
            let buffers = (0..<settings.concurrency).map { _ in IOBuffer(capacity: StorageFixture.blockSize, alignment: 4096) }
            let base = fixture.dataOffset
            return try await ClosedLoop.run(concurrency: settings.concurrency, duration: settings.duration) { task in
                let offset = offsets.with(task) { $0.next() } + base
                let buffer = buffers[task]
                try await pool.runIfActive {
                    try buffer.withUnsafeMutableBytes { bytes in
                        guard pread(fd, bytes.baseAddress, bytes.count, off_t(offset)) == bytes.count else {
                            throw BenchError("pread failed: errno \(errno)")
                        }
                    }
                }
            }
        case .pread:
            let fd = settings.direct ? try openDirect(fixture.readPath) : open(fixture.readPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BenchError("cannot open \(fixture.readPath): errno \(errno)") }
            defer { close(fd) }
            let base = fixture.dataOffset
            let buffers = PerTask<UnsafeMutableRawPointer>(settings.concurrency) { _ in
                .allocate(byteCount: Int(block), alignment: 4096)
            }
            defer { for index in 0..<settings.concurrency { buffers.with(index) { $0.deallocate() } } }
            return try await ThreadedClosedLoop.run(threads: settings.concurrency, name: "pread", duration: settings.duration) { thread in
                var offsets = RandomOffsets(seed: thread, fileSize: size, blockSize: block)
                let buffer = buffers.with(thread) { $0 }
                return {
                    guard pread(fd, buffer, Int(block), off_t(offsets.next() + base)) == Int(block) else {
                        throw BenchError("pread failed: errno \(errno)")
                    }
                }
            }
        default:
            throw BenchError("engine \(engine.rawValue) does not run storage-read")
        }
    }

    // MARK: Writes

    static func write(_ settings: BenchSettings, engine: Engine, fixture: StorageFixture) async throws -> Measurement {
        let block = StorageFixture.blockSize
        switch engine {
        case .uring:
            return try await writeBlobs(settings, storage: fixture.storage)
        case .nio:
            var files: [WriteFileHandle] = []
            for task in 0..<settings.concurrency {
                files.append(try await _NIOFileSystem.FileSystem.shared.openFile(
                    forWritingAt: FilePath(fixture.root + "/nio-write-\(task)"),
                    options: .newFile(replaceExisting: true)))
            }
            let payload = ByteBuffer(repeating: 0x5A, count: block)
            let counters = Counters(settings.concurrency)
            do {
                let measurement = try await ClosedLoop.run(concurrency: settings.concurrency, duration: settings.duration) { [files] task in
                    let count = counters.with(task) { value -> Int in defer { value += 1 }; return value }
                    try await files[task].write(contentsOf: payload, toAbsoluteOffset: Int64((UInt64(count) * UInt64(block)) % appendSpan))
                    if (count + 1) % writesPerSync == 0 { try await files[task].synchronize() }
                }
                for file in files { try await file.close() }
                return measurement
            } catch {
                for file in files { try? await file.close() }
                throw error
            }
        case .pread:
            var fds: [Int32] = []
            defer { for fd in fds { close(fd) } }
            for task in 0..<settings.concurrency {
                let fd = open(fixture.root + "/pwrite-\(task)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw BenchError("cannot create a write file in \(fixture.root): errno \(errno)") }
                fds.append(fd)
            }
            let descriptors = fds
            return try await ThreadedClosedLoop.run(threads: settings.concurrency, name: "pwrite", duration: settings.duration) { thread in
                let fd = descriptors[thread]
                let buffer = [UInt8](repeating: 0x5A, count: block)
                var count = 0
                return {
                    guard pwrite(fd, buffer, block, off_t((UInt64(count) * UInt64(block)) % appendSpan)) == block else {
                        throw BenchError("pwrite failed: errno \(errno)")
                    }
                    if (count + 1) % writesPerSync == 0 { guard fdatasync(fd) == 0 else { throw BenchError("fdatasync failed: errno \(errno)") } }
                    count += 1
                }
            }
        default:
            throw BenchError("engine \(engine.rawValue) does not run storage-write")
        }
    }

    /// The uring engines' writes: one blob per task, appended through
    /// `storage`; with `executors`, task i runs on `executors[i % count]`.
    static func writeBlobs(_ settings: BenchSettings, storage: Storage, executors: [any TaskExecutor] = []) async throws -> Measurement {
        let block = StorageFixture.blockSize
        var blobs: [Blob] = []
        for task in 0..<settings.concurrency {
            blobs.append(try await storage.open(partition: "bench-write", name: [0xA0, UInt8(truncatingIfNeeded: task), UInt8(task >> 8)]).blob)
        }
        let buffers = (0..<settings.concurrency).map { _ in IOBuffer(bytes: [UInt8](repeating: 0x5A, count: block)) }
        let counters = Counters(settings.concurrency)
        return try await ClosedLoop.run(concurrency: settings.concurrency, duration: settings.duration, executors: executors) { [blobs] task in
            let count = counters.with(task) { value -> Int in defer { value += 1 }; return value }
            try await blobs[task].write([buffers[task]], at: (UInt64(count) * UInt64(block)) % appendSpan)
            if (count + 1) % writesPerSync == 0 { try await blobs[task].sync(dataOnly: true) }
        }
    }

    private static func openDirect(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | CURING_O_DIRECT)
        guard fd >= 0 else { throw BenchError("cannot open \(path) with O_DIRECT: errno \(errno) (does the filesystem support it? tmpfs does not)") }
        return fd
    }

    /// Per-task random offsets within the file, seeded by task index.
    /// Our engines with `--batch B`: C/B tasks, each reading B random blocks
    /// per call (`Blob.read(batch:)`), so C reads are in flight as with one
    /// block per call from C tasks; each block counts as an operation, its
    /// latency its batch's.
    static func readInBatches(
        _ blob: Blob, _ settings: BenchSettings, fileSize: UInt64, executors: [any TaskExecutor] = []
    ) async throws -> Measurement {
        let batch = settings.batch
        let tasks = settings.concurrency / batch
        let offsets = Offsets(tasks, size: fileSize)
        let buffers = PerTask(tasks) { _ in (0..<batch).map { _ in IOBuffer(capacity: StorageFixture.blockSize, alignment: 4096) } }
        return try await ClosedLoop.run(
            concurrency: tasks, duration: settings.duration, executors: executors, operationsPerCall: batch
        ) { task in
            let reads = buffers.with(task) { buffers in
                offsets.with(task) { offsets in buffers.map { (offset: offsets.next(), buffer: $0) } }
            }
            _ = try await blob.read(batch: reads, options: settings.readOptions)
        }
    }

    private static func Offsets(_ tasks: Int, size: UInt64) -> PerTask<RandomOffsets> {
        PerTask(tasks) { RandomOffsets(seed: $0, fileSize: size, blockSize: UInt64(StorageFixture.blockSize)) }
    }

    /// Per-task operation counters.
    private static func Counters(_ tasks: Int) -> PerTask<Int> {
        PerTask(tasks) { _ in 0 }
    }
}
