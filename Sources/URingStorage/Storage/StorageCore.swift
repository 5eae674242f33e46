// What a Storage and all its blobs share: the loop handle and what was
// learned about the kernel along the way.
import Synchronization
import URingLoop

final class StorageCore: Sendable {
    let handle: Handle
    /// Cleared the first time the kernel or filesystem rejects RWF_DONTCACHE.
    let dropFromCacheSupported = Atomic<Bool>(true)

    init(handle: Handle) {
        self.handle = handle
    }
}
