// Partitions (directories) of blobs (files) under one root, on a loop of
// their own.
//
// Invariants:
// - Names are validated before anything touches the filesystem.
// - open/remove/rename/scan are serialised by `metadataLock`, so two opens
//   of one new blob cannot both initialise it (and truncate each other's
//   data).
// - A blob exists durably once `open` returns: its header, its directory
//   entry and its partition's own entry are fsynced. The partition's entry
//   is fsynced by the first blob this storage creates there, not only by
//   the open that made the directory: an open that failed or was cancelled
//   after `mkdir`, here or in an earlier process, leaves a partition whose
//   entry nobody synced.
// - Both entries are fsynced before the header is written, so a file with
//   a header has durable entries, whatever stopped its making (a failure,
//   or a process that died): opening an existing blob syncs nothing.
// - Making a blob (from its file's creation to the last fsync), removing
//   one or a partition (from the unlink to the fsync of its directory), and
//   renaming one (from the rename to the fsync of its directory) run to the
//   end once begun, whatever happens to the caller's task: a cancel
//   there would leave a file that later opens as a blob whose header and
//   entries were never made durable, or a removal that a retry finds done
//   (`.notFound`) while nothing synced it.
// - Removal and renaming are durable when they return (the directory is
//   fsynced; a renamed blob's bytes are fsynced before the rename).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

/// A durable blob store rooted at a directory.
public final class Storage: Sendable {
    /// The root directory.
    public let directory: String
    let core: StorageCore
    private let metadataLock = AsyncMutex()
    /// Partitions whose entry in `directory` this storage has fsynced
    /// (after they existed); a partition is taken out when removed.
    private let durablePartitions = Locked<Set<String>>([])

    /// Opens (creating if needed) the store at `directory` and starts its loop.
    ///
    /// - Parameter configuration: the loop's settings (single issuer by default).
    public convenience init(directory: String, configuration: LoopConfiguration = LoopConfiguration()) throws(IOError) {
        try self.init(directory: directory, configuration: configuration, faults: nil)
    }

    /// `init(directory:configuration:)` on a loop with a fault plan (tests only).
    package init(directory: String, configuration: LoopConfiguration = LoopConfiguration(), faults: FaultPlan?) throws(IOError) {
        var configuration = configuration
        if configuration.threadName == LoopConfiguration().threadName { configuration.threadName = "uring-storage" }
        try FileSystem.makeDirectories(directory)
        self.directory = directory
        core = StorageCore(handle: try IOLoop.start(configuration, faults: faults), group: nil, ownsLoops: true)
    }

    /// Opens the store at `directory` on an existing group of loops: a blob
    /// operation made by a task running on one of the group's loops is
    /// submitted on that loop directly; from anywhere else it goes to the
    /// blob's loop (chosen by name). The group stays the caller's to shut down.
    public init(directory: String, loops: LoopGroup) throws(IOError) {
        try FileSystem.makeDirectories(directory)
        self.directory = directory
        core = StorageCore(handle: loops.handles[0], group: loops, ownsLoops: false)
    }

    /// The loop serving this storage (for statistics).
    public var handle: Handle { core.handle }

    /// Stops the loop after in-flight work (when the storage started it);
    /// later calls fail with `.shutdown`.
    public func shutdown() async {
        if core.ownsLoops { await core.handle.shutdown() }
    }

    /// Opens `name` in `partition`, creating both if missing.
    ///
    /// A new (or shorter-than-header) blob gets a header with the highest of
    /// `versions`; an existing one must carry a version in `versions`.
    ///
    /// With `direct`, reads and writes bypass the page cache (O_DIRECT):
    /// offsets, lengths and buffer addresses must then be multiples of 4096
    /// (`IOBuffer(capacity:alignment: 4096)`), or the call fails with
    /// `.invalidArgument` before any I/O. A blob is laid out for direct I/O
    /// when it is created by a direct open (its header fills the first 4096
    /// bytes); such a blob also opens without `direct`, but one created
    /// without it cannot be opened with it.
    ///
    /// A task cancelled once the blob's file exists still gets the blob: its
    /// making (header, fsyncs) runs to the end first.
    ///
    /// - Returns: the blob, its logical length and its version.
    /// - Throws: `IOError` `.invalidArgument` for bad names or a direct open
    ///   of a blob not laid out for it, `.corrupt` for a file that is not a
    ///   blob, `.unsupportedVersion` for a version outside `versions`,
    ///   `.errno` for filesystem failures (EINVAL for a direct open on a
    ///   filesystem without O_DIRECT).
    public func open(
        partition: String, name: [UInt8], versions: ClosedRange<UInt16> = 0...0, direct: Bool = false
    ) async throws -> (blob: Blob, length: UInt64, version: UInt16) {
        try PartitionName.validate(partition)
        try BlobName.validate(name, partition: partition)
        let partitionPath = directory + "/" + partition
        let path = partitionPath + "/" + BlobName.encode(name)
        let label = partition + "/" + BlobName.encode(name)
        do {
            return try await metadataLock.withLock {
                let file = BlobFile(fd: try await openCreatingPartition(path, partitionPath: partitionPath), label: label)
                var size = try FileSystem.size(of: file.fd, context: label)
                var header: BlobHeader?
                if size >= UInt64(BlobHeader.prefixSize) {
                    // Not yet O_DIRECT (below), so a warm header comes from the cache.
                    let stored = try await core.handle.read(from: file.fd, at: 0, count: BlobHeader.prefixSize, cancellable: false,
                                                            cacheFirst: true)
                    do throws(IOError) {
                        header = try BlobHeader.parse(stored, fileSize: size, accepted: versions, context: label)
                    } catch {
                        guard case .corrupt = error.reason, size <= UInt64(BlobHeader.Layout.aligned.size) else { throw error }
                        let contents = try await core.handle.read(from: file.fd, at: 0, count: Int(size), cancellable: false,
                                                                  cacheFirst: true)
                        guard BlobHeader.isInterruptedCreation(contents) else { throw error }
                        // Made again below, as a torn one is.
                    }
                }
                if header == nil {
                    // New, or its creation cut short before the header was durable.
                    let fresh = BlobHeader(layout: direct ? .aligned : .compact, blobVersion: versions.upperBound)
                    try await uninterrupted { [self, size] in
                        try await initialize(file, with: fresh, size: size, partition: partition, partitionPath: partitionPath)
                    }
                    header = fresh
                    size = UInt64(fresh.size)
                }
                let found = header!
                if direct {
                    guard found.layout == .aligned else {
                        throw IOError("open", .invalidArgument(
                            "the blob was created without direct I/O: its 8-byte header would misalign every O_DIRECT transfer; open it without direct"),
                            context: label)
                    }
                    // The header went through the page cache; data from here on does not.
                    try FileSystem.enableDirectIO(file.fd, context: label)
                }
                let blob = Blob(file: file, core: core, partition: partition, name: name, dataOffset: UInt64(found.size), isDirect: direct)
                return (blob, size - UInt64(found.size), found.blobVersion)
            }
        } catch let error as IOError where error.context == nil {
            throw IOError.labelling(error, with: label)  // the loop's own refusals (.shutdown) name no blob
        }
    }

    /// Removes one blob, or the whole partition when `name` is `nil`.
    ///
    /// A task cancelled once the blob (or, last, the partition's directory)
    /// is unlinked still returns normally, after its directory's fsync. A
    /// partition's removal may stop part way before that, and a retry
    /// removes the rest.
    ///
    /// - Throws: `IOError` `.notFound` if it does not exist.
    public func remove(partition: String, name: [UInt8]? = nil) async throws {
        try PartitionName.validate(partition)
        if let name { try BlobName.validate(name, partition: partition) }
        let partitionPath = directory + "/" + partition
        try await metadataLock.withLock {
            if let name {
                let label = partition + "/" + BlobName.encode(name)
                let path = partitionPath + "/" + BlobName.encode(name)
                try await uninterrupted { [self] in
                    do {
                        try await core.handle.removeFile(path)
                    } catch let error as IOError {
                        throw IOError("remove", error.errno == ENOENT ? .notFound : error.reason, context: label)
                    }
                    try await syncDirectory(partitionPath)
                }
            } else {
                guard FileSystem.isDirectory(partitionPath) else {
                    throw IOError("remove", .notFound, context: partition)
                }
                // Made again, it needs its entry synced again.
                durablePartitions.withLock { _ = $0.remove(partition) }
                // A cancel may stop this part way (the rest goes on a retry)...
                try await removeTree(partitionPath, keepingTop: true)
                // ...but not between the partition's removal and its sync.
                try await uninterrupted { [self] in
                    try await core.handle.removeDirectory(partitionPath)
                    try await syncDirectory(directory)
                }
            }
        }
    }

    /// Renames blob `from` of `partition` to `to`, in `toPartition` (default:
    /// the same one; made if missing), replacing any blob of that name in
    /// one step: rename(2) is atomic, so after a crash the name `to` holds
    /// its old blob or the new one, never neither and never a mix. That is
    /// how to replace a blob's whole contents safely (a manifest, a
    /// checkpoint): write a new blob under a name of its own, then rename
    /// it over the old one; or to publish one written in a staging
    /// partition.
    ///
    /// Durable on return: `from`'s bytes are fsynced before the rename, so
    /// the name never points at bytes that had not reached the disk, and
    /// the directories after it (the destination partition's, and the
    /// source's when it is another). A task cancelled once the rename is
    /// made still returns normally, after those fsyncs. Open blobs keep
    /// their files: one opened as `from` reads and writes the blob now
    /// named `to` (its `partition` and `name`, and its errors, still say
    /// where it was), and one of the replaced blob keeps its bytes, as
    /// after `remove`. Renaming a blob to its own name changes nothing.
    ///
    /// - Throws: `IOError` `.notFound` if `from` (or its partition) does not
    ///   exist.
    public func rename(partition: String, from: [UInt8], to: [UInt8], toPartition: String? = nil) async throws {
        let destination = toPartition ?? partition
        try PartitionName.validate(partition)
        try PartitionName.validate(destination)
        try BlobName.validate(from, partition: partition)
        try BlobName.validate(to, partition: destination)
        let sourceDirectory = directory + "/" + partition
        let targetDirectory = directory + "/" + destination
        let label = partition + "/" + BlobName.encode(from)
        let source = sourceDirectory + "/" + BlobName.encode(from)
        let target = targetDirectory + "/" + BlobName.encode(to)
        @Sendable func failure(_ error: any Error) -> any Error {
            guard let error = error as? IOError else { return error }
            return error.errno == ENOENT ? IOError("rename", .notFound, context: label) : IOError.labelling(error, with: label)
        }
        try await metadataLock.withLock {
            do {
                let fd = try await core.handle.open(source, flags: O_RDONLY)
                defer { close(fd) }
                try await core.handle.sync(fd)
            } catch {
                throw failure(error)
            }
            if destination != partition {
                // Made (and its own entry synced) as an open would.
                do {
                    try await core.handle.makeDirectory(targetDirectory)
                } catch let error as IOError where error.errno == EEXIST {
                    // There already; the rename says whether it is a directory.
                } catch {
                    throw IOError.labelling(error, with: label)
                }
                try await syncPartitionEntry(destination)
            }
            try await uninterrupted { [self] in
                do {
                    try await core.handle.rename(source, to: target)
                } catch {
                    throw failure(error)
                }
                try await syncDirectory(targetDirectory)
                if destination != partition { try await syncDirectory(sourceDirectory) }
            }
        }
    }

    /// Lists a partition's blobs (and reports entries that are not blobs).
    ///
    /// - Throws: `IOError` `.notFound` if the partition does not exist,
    ///   `.shutdown` after `shutdown` (as every other call).
    public func scan(partition: String) async throws -> PartitionScan {
        try PartitionName.validate(partition)
        // Listing never touches the loop; refused anyway, as documented.
        if core.handle.isTerminated { throw IOError("scan", .shutdown, context: partition) }
        let partitionPath = directory + "/" + partition
        return try await metadataLock.withLock {
            var scan = PartitionScan(blobs: [], foreignEntries: [])
            for entry in try FileSystem.list(partitionPath) {
                if entry.isRegularFile, let name = BlobName.decode(entry.name) {
                    scan.blobs.append(name)
                } else {
                    scan.foreignEntries.append(entry.name)
                }
            }
            return scan
        }
    }

    /// The partitions under the root, sorted: its directories whose names
    /// are partition names. Anything else there (files, links, directories
    /// no partition could be named) is left out.
    ///
    /// - Throws: `IOError` from listing the root, `.shutdown` after
    ///   `shutdown` (as every other call).
    public func partitions() async throws -> [String] {
        // Listing never touches the loop; refused anyway, as documented.
        if core.handle.isTerminated { throw IOError("partitions", .shutdown, context: directory) }
        return try await metadataLock.withLock {
            try FileSystem.list(directory).filter { entry in
                guard entry.isDirectory else { return false }
                do throws(IOError) {
                    try PartitionName.validate(entry.name)
                    return true
                } catch {
                    return false
                }
            }.map(\.name).sorted()
        }
    }

    /// Opens (creating) the blob file at `path`, and its partition directory
    /// first if that is missing. An existing blob opens without creating,
    /// which the kernel usually answers from its caches on this thread (see
    /// `Handle.open`); creating always takes the ring.
    private func openCreatingPartition(_ path: String, partitionPath: String) async throws -> Int32 {
        do {
            return try await core.handle.open(path, flags: O_RDWR)
        } catch let error as IOError where error.errno == ENOENT {}
        do {
            return try await core.handle.open(path, flags: O_RDWR | O_CREAT)
        } catch let error as IOError where error.errno == ENOENT {
            do {
                try await core.handle.makeDirectory(partitionPath)
            } catch let error as IOError where error.errno == EEXIST {
                // Made meanwhile by someone else; the open says what it is.
            }
            return try await core.handle.open(path, flags: O_RDWR | O_CREAT)
        }
    }

    /// Makes `file` a blob with `header` (emptying what a torn one holds) and
    /// its existence durable: its entry in the partition, and the partition's
    /// entry, unless this storage synced that before; then the header and
    /// the file.
    ///
    /// The entries are synced before the header is written, so a header
    /// always means durable entries, even when the process died part way
    /// (an open that finds a header syncs nothing). A failure from the
    /// header's write on empties the file again, as far as it can: a header
    /// whose fsync failed may never reach the disk, and left in place it
    /// would make the next open take the file for a finished blob.
    private func initialize(
        _ file: BlobFile, with header: BlobHeader, size: UInt64, partition: String, partitionPath: String
    ) async throws {
        try await syncDirectory(partitionPath)
        try await syncPartitionEntry(partition)
        if size > 0 {
            do {
                try await core.handle.truncate(file.fd, to: 0)
            } catch {
                throw IOError.labelling(error, with: file.label)
            }
        }
        do {
            try await core.handle.write(header.bytes, to: file.fd, at: 0, cancellable: false)
            try await core.handle.sync(file.fd)
        } catch {
            // Best effort, on this thread: the loop may be what failed.
            _ = ftruncate(file.fd, 0)
            throw IOError.labelling(error, with: file.label)
        }
    }

    /// fsyncs the root, making `partition`'s entry durable, unless this
    /// storage did so since the partition last came to exist.
    private func syncPartitionEntry(_ partition: String) async throws {
        guard !durablePartitions.withLock({ $0.contains(partition) }) else { return }
        try await syncDirectory(directory)
        durablePartitions.withLock { _ = $0.insert(partition) }
    }

    /// Removes a directory tree (files, subdirectories; with `keepingTop`,
    /// not `path` itself) without following symlinks: the listing is a
    /// system call (io_uring has no getdents), each removal a request.
    private func removeTree(_ path: String, keepingTop: Bool = false) async throws {
        for entry in try FileSystem.list(path) {
            let child = path + "/" + entry.name
            do {
                try await core.handle.removeFile(child)
            } catch let error as IOError where error.errno == EISDIR {
                try await removeTree(child)
            }
        }
        if !keepingTop { try await core.handle.removeDirectory(path) }
    }

    /// Runs `body` in a task of its own, which the caller's cancel does not
    /// reach: for steps that must not stop half way, where an entry made or
    /// removed is not yet synced (the caller, told it was cancelled, would
    /// take it as not done, and a retry would find it done and sync nothing).
    private func uninterrupted(_ body: @escaping @Sendable () async throws -> Void) async throws {
        try await Task { try await body() }.value
    }

    /// fsyncs a directory through the ring, so new or removed entries are durable.
    private func syncDirectory(_ path: String) async throws {
        let fd = try await core.handle.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        do {
            try await core.handle.sync(fd)
        } catch var error as IOError {
            error.context = path
            throw error
        }
    }
}
