// An owned byte buffer at a stable address, for the kernel to read or write.
//
// Why a class: the kernel holds a raw pointer into the buffer from submission
// until the last CQE. A class instance never moves, and the request that
// submitted it keeps a strong reference until that CQE (even when a shutdown
// abandons the request and answers its caller first), so Swift code cannot
// free or move the memory early, whatever the caller does with its own
// reference.
//
// Ownership rule (why `@unchecked Sendable` is sound in practice): a buffer
// passed to a `Handle` operation belongs to that operation until it returns;
// the caller must not read or write it meanwhile (the same rule as for any
// buffer handed to the kernel). Operations give the buffer back as their
// result, so ordinary code never needs to hold on to it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

/// A fixed-capacity byte buffer at a stable, aligned address.
public final class IOBuffer: @unchecked Sendable {
    /// The most bytes one SQE moves; longer transfers continue with more SQEs.
    static let maximumTransfer = 1 << 30

    /// Bytes of storage.
    public let capacity: Int
    /// Alignment of the storage (4096 suits `O_DIRECT`).
    public let alignment: Int
    /// Valid bytes, from the start.
    public var count: Int {
        didSet { precondition(count >= 0 && count <= capacity, "IOBuffer count \(count) outside 0...\(capacity)") }
    }

    let base: UnsafeMutableRawPointer

    /// Creates an empty buffer of `capacity` bytes (trapping if the memory
    /// cannot be had, as an array would).
    public convenience init(capacity: Int, alignment: Int = 16) {
        guard let base = IOBuffer.allocate(capacity, alignment: alignment) else {
            preconditionFailure("IOBuffer: cannot allocate \(capacity) bytes")
        }
        self.init(base: base, capacity: capacity, alignment: alignment)
    }

    /// Creates an empty buffer of `capacity` bytes, or throws `IOError`
    /// `.errno(ENOMEM)` for `operation` when the memory cannot be had: for
    /// sizes that come from outside (a length a peer sent, a count read
    /// from a file), where trapping would end the whole process.
    public convenience init(capacity: Int, alignment: Int = 16, orThrowFor operation: String) throws(IOError) {
        guard let base = IOBuffer.allocate(capacity, alignment: alignment) else {
            throw IOError(operation, .errno(ENOMEM), context: "cannot allocate a buffer of \(capacity) bytes")
        }
        self.init(base: base, capacity: capacity, alignment: alignment)
    }

    private init(base: UnsafeMutableRawPointer, capacity: Int, alignment: Int) {
        self.base = base
        self.capacity = capacity
        self.alignment = alignment
        self.count = 0
    }

    /// `posix_memalign`, or nil when the kernel refuses the memory.
    private static func allocate(_ capacity: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        precondition(capacity >= 0, "IOBuffer capacity must not be negative")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "IOBuffer alignment must be a power of two")
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, max(alignment, MemoryLayout<UnsafeRawPointer>.size), max(capacity, 1)) == 0 else {
            return nil
        }
        return memory
    }

    /// Creates a buffer holding a copy of `bytes`.
    public convenience init(bytes: some Collection<UInt8>, alignment: Int = 16) {
        self.init(capacity: bytes.count, alignment: alignment)
        UnsafeMutableRawBufferPointer(start: base, count: capacity).copyBytes(from: bytes)
        count = bytes.count
    }

    deinit { free(base) }

    /// A copy of the valid bytes.
    public var bytes: [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Reads the valid bytes.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Writes anywhere in the capacity; set `count` afterwards.
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: capacity))
    }

    /// Replaces the contents with `bytes` (at most `capacity` of them).
    public func assign(_ bytes: some Collection<UInt8>) {
        precondition(bytes.count <= capacity, "\(bytes.count) bytes do not fit in an IOBuffer of \(capacity)")
        UnsafeMutableRawBufferPointer(start: base, count: capacity).copyBytes(from: bytes)
        count = bytes.count
    }
}
