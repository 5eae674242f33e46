// The files the storage workloads run on, made once per workload and shared
// by every engine: a blob of the requested size (warm in the page cache, or
// for --direct a blob made for direct I/O, written around the cache), and
// one append blob per task for writes.
import CURing
import Glibc
import URing
import URingLoop
import URingStorage

final class StorageFixture: Sendable {
    static let blockSize = 4096
    let root: String
    let storage: Storage
    let readBlob: Blob
    /// The read blob's path (engines other than ours open it themselves).
    let readPath: String
    let fileSize: UInt64
    /// Where the read blob's data starts in its file (its header's size:
    /// 4096 for a direct blob, 8 otherwise); the engines that read the file
    /// themselves add it. Checked against the file's size when it is made.
    let dataOffset: UInt64

    /// Creates the fixture under a fresh directory in `parent`, its storage
    /// on a loop made with `loop`; with `direct`, the read blob is opened for
    /// direct I/O (and written that way).
    static func make(
        parent: String, fileSize: UInt64, needsReadFile: Bool, direct: Bool = false, loop: LoopConfiguration
    ) async throws -> StorageFixture {
        var template = Array((parent + "/uring-bench-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw BenchError("cannot create a benchmark directory in \(parent): \(String(cString: strerror(errno)))")
        }
        let root = String(cString: made)
        let storage = try Storage(directory: root, configuration: loop)
        let (blob, _, _) = try await storage.open(partition: "bench", name: [1], direct: direct)
        let dataOffset: UInt64 = direct ? 4096 : 8
        let readPath = root + "/bench/01"
        if needsReadFile {
            let chunk = IOBuffer(capacity: 1 << 20, alignment: 4096)
            var offset: UInt64 = 0
            while offset < fileSize {
                chunk.withUnsafeMutableBytes { bytes in
                    for index in stride(from: 0, to: bytes.count, by: 8) {
                        bytes.storeBytes(of: (offset + UInt64(index)) &* 0x9E37_79B9, toByteOffset: index, as: UInt64.self)
                    }
                }
                chunk.count = Int(min(UInt64(chunk.capacity), fileSize - offset))
                try await blob.write([chunk], at: offset)
                offset += UInt64(chunk.count)
            }
            try await blob.sync()
            var info = stat()
            guard stat(readPath, &info) == 0, UInt64(info.st_size) == fileSize + dataOffset else {
                throw BenchError("the read blob's file is not its data plus a \(dataOffset)-byte header")
            }
        }
        return StorageFixture(root: root, storage: storage, readBlob: blob, readPath: readPath, fileSize: fileSize, dataOffset: dataOffset)
    }

    private init(root: String, storage: Storage, readBlob: Blob, readPath: String, fileSize: UInt64, dataOffset: UInt64) {
        self.root = root
        self.storage = storage
        self.readBlob = readBlob
        self.readPath = readPath
        self.fileSize = fileSize
        self.dataOffset = dataOffset
    }

    func tearDown() async {
        await storage.shutdown()
        removeTree(root)
    }

    private func removeTree(_ path: String) {
        guard let directory = opendir(path) else { unlink(path); return }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
        }
        closedir(directory)
        rmdir(path)
    }
}

extension StorageFixture {
    /// The files a workload needs, or nil for workloads that need none; the
    /// fixture's storage (the uring engine's) runs on a loop made with `loop`.
    static func make(
        for workload: Workload, directory: String, fileSize: UInt64, direct: Bool = false, loop: LoopConfiguration = LoopConfiguration()
    ) async throws -> StorageFixture? {
        switch workload {
        case .nop, .wake, .echo, .udpEcho: return nil
        case .storageRead:
            Progress.show("preparing a \(fileSize >> 20) MiB file in \(directory)")
            defer { Progress.clear() }
            return try await StorageFixture.make(parent: directory, fileSize: fileSize, needsReadFile: true, direct: direct, loop: loop)
        case .storageWrite:
            return try await StorageFixture.make(parent: directory, fileSize: 0, needsReadFile: false, loop: loop)
        }
    }
}
