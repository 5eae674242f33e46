// A blob: a file in a partition whose data path runs through the ring.
// Logical offsets start after the header (8 bytes, or 4096 for blobs made
// for direct I/O; see `BlobHeader`). A blob opened for direct I/O refuses,
// before any I/O, offsets, lengths and buffers the kernel would reject.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

/// An open blob. Copies share the descriptor and may be used concurrently
/// from many tasks; it is closed when the last copy is released.
///
/// Errors are `IOError`s whose context names the partition and the blob (hex).
public struct Blob: Sendable {
    let file: BlobFile
    let core: StorageCore
    /// The partition the blob was opened in.
    public let partition: String
    /// The name the blob was opened under. A later `Storage.rename` moves
    /// the file, which this handle keeps reading and writing, but not these
    /// two: they, and the errors' context, still say where it was opened
    /// (as Go's `os.File.Name()` keeps the name a file was opened by).
    public let name: [UInt8]
    /// Whether reads and writes bypass the page cache (O_DIRECT): see
    /// `Storage.open(partition:name:versions:direct:)`.
    public let isDirect: Bool
    /// Where logical offset 0 is in the file: the header's size.
    let dataOffset: UInt64

    init(file: BlobFile, core: StorageCore, partition: String, name: [UInt8], dataOffset: UInt64, isDirect: Bool) {
        self.file = file
        self.core = core
        self.partition = partition
        self.name = name
        self.dataOffset = dataOffset
        self.isDirect = isDirect
    }

    private var handle: Handle { core.loop(for: name) }

    /// Reads exactly `count` bytes at logical `offset`.
    ///
    /// Blob I/O is regular-file I/O: once submitted it runs to completion
    /// (see `Handle.read`'s `cancellable`); a task cancelled before the call
    /// gets `CancellationError`.
    ///
    /// - Throws: `IOError` `.endOfFile` if the blob is shorter than
    ///   `offset + count`; `.invalidArgument` for offsets past the largest
    ///   file or, on a direct blob, an offset or count that is not a
    ///   multiple of 4096; `.errno(ENOMEM)` for a count whose buffer cannot
    ///   be allocated.
    public func read(
        at offset: UInt64, count: Int, options: ReadOptions = .cached, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [UInt8] {
        _ = try physicalOffset(offset, count: count, operation: "read")  // typed errors before allocating
        guard count > 0 else { return [] }
        let buffer: IOBuffer
        do throws(IOError) {
            buffer = try IOBuffer(capacity: count, alignment: bufferAlignment, orThrowFor: "read")
        } catch {
            throw IOError.labelling(error, with: file.label)
        }
        return try await read(at: offset, into: buffer, count: count, options: options, deadline: deadline).bytes
    }

    /// Reads exactly `count` bytes (default: the buffer's capacity) at
    /// logical `offset` into `buffer`, which is returned filled.
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.read`)
    public func read(
        at offset: UInt64, into buffer: IOBuffer, count: Int? = nil, options: ReadOptions = .cached,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> IOBuffer {
        let (loop, fd, physical, flags) = try readTarget(offset, into: buffer, count: count ?? buffer.capacity, options: options)
        do {
            do {
                return try await loop.read(from: fd, at: physical, into: buffer, count: count, rwFlags: flags,
                                           deadline: deadline, cancellable: false, cacheFirst: readsCacheFirst(options))
            } catch {
                guard let retry = retryFlags(afterRejecting: error, of: flags) else { throw error }
                return try await loop.read(from: fd, at: physical, into: buffer, count: count, rwFlags: retry,
                                           deadline: deadline, cancellable: false)
            }
        } catch {
            throw labelled(error)
        }
    }

    /// The loop, descriptor, file offset and `RWF_*` flags of a read at
    /// logical `offset`.
    @usableFromInline
    func readTarget(
        _ offset: UInt64, into buffer: IOBuffer, count: Int, options: ReadOptions
    ) throws(IOError) -> (Handle, Int32, UInt64, Int32) {
        let physical = try physicalOffset(offset, count: count, operation: "read")
        if isDirect { try checkDirect("read", offset: offset, count: count, memory: CollectionOfOne(buffer), wholeBuffers: false) }
        return (handle, file.fd, physical, cacheFlags(dropFromCache: options.dropFromCache))
    }

    /// Whether a read with `options` first copies what the page cache holds
    /// on the caller's thread (never on a direct blob: O_DIRECT reads wait
    /// for the device).
    @usableFromInline
    func readsCacheFirst(_ options: ReadOptions) -> Bool { options.cacheFirst && !isDirect }

    /// The alignment of buffers the blob allocates itself.
    @usableFromInline
    var bufferAlignment: Int { isDirect ? BlobHeader.directAlignment : 16 }

    /// `error`, with the blob's label in front of an IOError's context.
    @usableFromInline
    func labelled(_ error: any Error) -> any Error {
        IOError.labelling(error, with: file.label)
    }

    /// Writes `bytes` at logical `offset`, extending the blob if needed.
    @inlinable @inline(__always)
    public func write(_ bytes: [UInt8], at offset: UInt64, options: WriteOptions = .buffered) async throws {
        try await write([IOBuffer(bytes: bytes, alignment: bufferAlignment)], at: offset, options: options)
    }

    /// Writes the buffers back to back at logical `offset` (one vectored
    /// write, continued after partial progress until every byte is written).
    /// On a direct blob the offset and every buffer's address and length
    /// must be multiples of 4096 (`.invalidArgument` before any I/O).
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.write`)
    public func write(_ buffers: [IOBuffer], at offset: UInt64, options: WriteOptions = .buffered) async throws {
        let (loop, fd, physical, flags) = try writeTarget(buffers, at: offset, options: options)
        do {
            // With `.writeThenSync` the loop follows the write with the
            // fdatasync itself: one trip to the loop, not two.
            let thenSync = options.durability == .writeThenSync
            do {
                try await loop.write(buffers, to: fd, at: physical, rwFlags: flags, cancellable: false, thenSync: thenSync)
            } catch {
                guard let retry = retryFlags(afterRejecting: error, of: flags) else { throw error }
                try await loop.write(buffers, to: fd, at: physical, rwFlags: retry, cancellable: false, thenSync: thenSync)
            }
        } catch {
            throw labelled(error)
        }
    }

    /// The loop, descriptor, file offset and `RWF_*` flags of a write at
    /// logical `offset`.
    @usableFromInline
    func writeTarget(_ buffers: [IOBuffer], at offset: UInt64, options: WriteOptions) throws(IOError) -> (Handle, Int32, UInt64, Int32) {
        let total = buffers.reduce(0) { $0 + $1.count }
        let physical = try physicalOffset(offset, count: total, operation: "write")
        if isDirect { try checkDirect("write", offset: offset, count: total, memory: buffers, wholeBuffers: true) }
        let flags: Int32 = options.durability == .dataSync ? RWF_DSYNC : 0
        return (handle, file.fd, physical, flags | cacheFlags(dropFromCache: options.dropFromCache))
    }

    /// RWF_DONTCACHE when asked for, unless the kernel has refused it before
    /// or the blob bypasses the cache anyway (a direct blob: the flag would
    /// change nothing, and a filesystem refusing it would turn it off for
    /// every blob).
    private func cacheFlags(dropFromCache: Bool) -> Int32 {
        dropFromCache && !isDirect && core.dropFromCacheSupported.load(ordering: .relaxed) ? RWF_DONTCACHE : 0
    }

    /// The flags to read or write again with when the kernel or filesystem
    /// rejected RWF_DONTCACHE (it does so before moving any byte;
    /// remembered, so later calls leave it out), or nil when `error` is
    /// anything else.
    @usableFromInline
    func retryFlags(afterRejecting error: any Error, of flags: Int32) -> Int32? {
        guard flags & RWF_DONTCACHE != 0, let error = error as? IOError,
              error.errno == EOPNOTSUPP || error.errno == EINVAL else { return nil }
        core.dropFromCacheSupported.store(false, ordering: .relaxed)
        return flags & ~RWF_DONTCACHE
    }

    /// Sets the logical length: truncates, or extends with zeros. (On a
    /// direct blob, a length that is not a multiple of 4096 leaves a last
    /// block only buffered I/O can read.)
    public func resize(to length: UInt64) async throws {
        let (physical, overflow) = length.addingReportingOverflow(dataOffset)
        guard !overflow, physical <= UInt64(Int64.max) else {
            throw IOError("resize", .invalidArgument("length \(length) is past the largest file size"), context: file.label)
        }
        try await labelled { try await handle.truncate(file.fd, to: physical) }
    }

    /// Holds disk space for the blob's first `length` logical bytes without
    /// changing its length (`fallocate`, keeping the size). Writes below
    /// `length` then find their blocks allocated, so they cannot fail for
    /// want of space on filesystems that write in place (ext4, XFS, tmpfs):
    /// a log that reserves each segment before appending learns of a full
    /// disk when it reserves, not part-way through a record. Bytes already
    /// written stay as they are; the reservation is durable with the next
    /// `sync`.
    ///
    /// - Throws: `IOError` `.invalidArgument` for a length past the largest
    ///   file size; the kernel's `ENOSPC` or `EFBIG`, or `EOPNOTSUPP` on a
    ///   filesystem that cannot reserve space.
    public func reserve(upTo length: UInt64) async throws {
        let (physical, overflow) = length.addingReportingOverflow(dataOffset)
        guard !overflow, physical <= UInt64(Int64.max) else {
            throw IOError("reserve", .invalidArgument("length \(length) is past the largest file size"), context: file.label)
        }
        guard length > 0 else { return }
        try await labelled {
            try await handle.allocate(file.fd, at: dataOffset, count: length, mode: .allocateKeepingSize)
        }
    }

    /// Gives back the disk space of `count` logical bytes from `offset`
    /// (`fallocate` punching a hole): they read as zeros from then on and
    /// the blob's length stays, so a store can drop dead records inside a
    /// blob without rewriting the live ones around them. Filesystems free
    /// whole blocks only; the covered part of a block at either end is
    /// zeroed in place. Any offset will do, on a direct blob too.
    ///
    /// - Throws: `IOError` `.invalidArgument` for a range past the largest
    ///   file size, or the kernel's errno (`EOPNOTSUPP` on a filesystem
    ///   that cannot punch holes).
    public func discard(at offset: UInt64, count: UInt64) async throws {
        let (physical, overflow) = offset.addingReportingOverflow(dataOffset)
        let (end, endOverflow) = physical.addingReportingOverflow(count)
        guard !overflow, !endOverflow, end <= UInt64(Int64.max) else {
            throw IOError("discard", .invalidArgument("offset \(offset) + \(count) bytes is past the largest blob"), context: file.label)
        }
        guard count > 0 else { return }
        try await labelled { try await handle.allocate(file.fd, at: physical, count: count, mode: .punchHole) }
    }

    /// Makes every completed write durable: `fsync`, or `fdatasync` with
    /// `dataOnly` (skips metadata that reading the data does not need).
    public func sync(dataOnly: Bool = false) async throws {
        try await labelled { try await handle.sync(file.fd, dataOnly: dataOnly) }
    }

    /// The logical length right now.
    public func length() throws -> UInt64 {
        var info = stat()
        guard fstat(file.fd, &info) == 0 else {
            throw IOError("stat", errno: curing_errno(), context: file.label)
        }
        return UInt64(max(0, Int64(info.st_size) - Int64(dataOffset)))
    }

    private func physicalOffset(_ offset: UInt64, count: Int, operation: String) throws(IOError) -> UInt64 {
        guard count >= 0 else {
            throw IOError(operation, .invalidArgument("negative byte count \(count)"), context: file.label)
        }
        let (physical, overflow) = offset.addingReportingOverflow(dataOffset)
        let (end, endOverflow) = physical.addingReportingOverflow(UInt64(count))
        guard !overflow, !endOverflow, end <= UInt64(Int64.max) else {
            throw IOError(operation, .invalidArgument("offset \(offset) + \(count) bytes is past the largest blob"), context: file.label)
        }
        return physical
    }

    /// Direct I/O moves whole blocks between aligned memory and aligned file
    /// offsets; the kernel answers anything else with a bare EINVAL, so the
    /// blob refuses it first and says which rule was broken. `wholeBuffers`:
    /// each buffer's bytes are transferred (a write), so each length must be
    /// whole blocks too.
    private func checkDirect(
        _ operation: String, offset: UInt64, count: Int, memory buffers: some Sequence<IOBuffer>, wholeBuffers: Bool
    ) throws(IOError) {
        let unit = BlobHeader.directAlignment
        func refuse(_ what: String) -> IOError {
            IOError(operation, .invalidArgument("direct I/O needs offsets, lengths and buffer addresses that are multiples of \(unit): \(what)"),
                    context: file.label)
        }
        guard offset % UInt64(unit) == 0 else { throw refuse("offset \(offset)") }
        guard count % unit == 0 else { throw refuse("\(count) bytes") }
        for buffer in buffers {
            let address = buffer.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            guard address % UInt(unit) == 0 else { throw refuse("a buffer at address 0x\(String(address, radix: 16)) (allocate it with IOBuffer(capacity:alignment: 4096))") }
            guard !wholeBuffers || buffer.count % unit == 0 else { throw refuse("a buffer of \(buffer.count) bytes") }
        }
    }

    /// Runs `body`, putting the blob's label in front of any IOError's context.
    /// Inlined so the closure adds no async frame (each costs a hop).
    @inline(__always)
    private func labelled<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw labelled(error)
        }
    }
}
