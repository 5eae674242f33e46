// What a Storage and all its blobs share: the loop handle and what was
// learned about the kernel along the way.
import Synchronization
import URingLoop

final class StorageCore: Sendable {
    /// The loop for metadata work (and for all work without a group).
    let handle: Handle
    /// With a group, blob I/O runs on the caller's loop when the caller runs
    /// on one of them (direct submission), else on the blob's keyed loop.
    let group: LoopGroup?
    /// Whether shutting the storage down stops the loops (it started them).
    let ownsLoops: Bool
    /// Cleared the first time the kernel or filesystem rejects RWF_DONTCACHE.
    let dropFromCacheSupported = Atomic<Bool>(true)

    init(handle: Handle, group: LoopGroup?, ownsLoops: Bool) {
        self.handle = handle
        self.group = group
        self.ownsLoops = ownsLoops
    }

    /// The loop for I/O on the blob named `name`.
    func loop(for name: [UInt8]) -> Handle {
        guard let group else { return handle }
        return group.current ?? group.handle(for: name)
    }
}
