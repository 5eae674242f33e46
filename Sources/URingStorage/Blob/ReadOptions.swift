// Per-read caching choice.

/// How a blob read uses the page cache.
///
/// A scan that reads a blob once (compaction, a backup, a checksum pass)
/// would otherwise fill the page cache with pages nobody reads again, pushing
/// out the ones the hot path needs.
public struct ReadOptions: Sendable, Hashable {
    /// Ask the kernel not to keep the pages this read brings into the page
    /// cache (`RWF_DONTCACHE`, Linux 6.14+). Pages that were cached already
    /// stay cached. Where the kernel or filesystem lacks it, the storage
    /// notices once and reads normally from then on, as for
    /// `WriteOptions.dropFromCache`. A direct blob has nothing to drop and
    /// ignores it.
    public var dropFromCache: Bool
    /// Copy what the page cache already holds on the calling thread, and
    /// send only the rest through the ring (`Handle.read`'s `cacheFirst`):
    /// a cached block then costs no trip to the loop thread and back, and
    /// the task does not suspend. On by default; a direct blob has no cache
    /// to ask and ignores it. Turn it off to keep even the copying of cached
    /// data off the calling thread (a large read copies for as long as it
    /// takes), or to measure the ring's own path.
    public var cacheFirst: Bool

    public init(dropFromCache: Bool = false, cacheFirst: Bool = true) {
        self.dropFromCache = dropFromCache
        self.cacheFirst = cacheFirst
    }

    /// Through the page cache, leaving what it read cached.
    public static let cached = ReadOptions()
    /// Through the page cache, dropping what it had to bring in.
    public static let uncached = ReadOptions(dropFromCache: true)
}
