// Per-write durability and caching choices.
import CURing

/// How a blob write should reach the disk.
public struct WriteOptions: Sendable, Hashable {
    /// When the write is durable on return.
    public enum Durability: Sendable, Hashable {
        /// In the page cache only; durable after `Blob.sync()`.
        case buffered
        /// `RWF_DSYNC`: this write's data (and the metadata to read it) is
        /// durable when it returns, in one kernel operation.
        case dataSync
        /// Write, then `fdatasync` the file: durable on return, and also
        /// flushes any earlier buffered writes.
        case writeThenSync
    }

    public var durability: Durability
    /// Ask the kernel not to keep the written pages cached (`RWF_DONTCACHE`,
    /// Linux 6.14+). Where the kernel or filesystem lacks it, the storage
    /// notices once and writes normally from then on. A direct blob has
    /// nothing to drop and ignores it.
    public var dropFromCache: Bool

    public init(durability: Durability = .buffered, dropFromCache: Bool = false) {
        self.durability = durability
        self.dropFromCache = dropFromCache
    }

    public static let buffered = WriteOptions()
    public static let dataSync = WriteOptions(durability: .dataSync)
    public static let writeThenSync = WriteOptions(durability: .writeThenSync)
}
