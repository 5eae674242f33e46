// The submission queue shared with the kernel.
//
// Invariants:
// - Only the ring's owner writes SQE slots and the tail; the kernel writes the head.
// - `pendingTail` runs ahead of the shared tail: entries are written locally
//   and made visible to the kernel in one release store (`flush`), so a batch
//   of SQEs costs one ordered store, not one per entry.
// - The classic SQ index array is filled with the identity at setup, so slot
//   `i` always names SQE `i` and the array is never touched again.
import CURing

/// The ring's submission side. Owned by `Ring`; not thread-safe.
public struct SubmissionQueue {
    @usableFromInline let head: UnsafeMutablePointer<UInt32>
    @usableFromInline let tail: UnsafeMutablePointer<UInt32>
    @usableFromInline let flagsPointer: UnsafeMutablePointer<UInt32>
    @usableFromInline let dropped: UnsafeMutablePointer<UInt32>
    @usableFromInline let entries: UnsafeMutablePointer<io_uring_sqe>
    @usableFromInline let mask: UInt32
    /// Number of SQE slots.
    public let capacity: UInt32
    /// Entries written but not yet made visible to the kernel.
    @usableFromInline var pendingTail: UInt32
    /// With SQPOLL the kernel thread moves the head concurrently.
    @usableFromInline let kernelPolls: Bool

    init(ringBase: UnsafeMutableRawPointer, offsets: io_sqring_offsets,
         entries: UnsafeMutablePointer<io_uring_sqe>, kernelPolls: Bool) {
        head = (ringBase + Int(offsets.head)).assumingMemoryBound(to: UInt32.self)
        tail = (ringBase + Int(offsets.tail)).assumingMemoryBound(to: UInt32.self)
        flagsPointer = (ringBase + Int(offsets.flags)).assumingMemoryBound(to: UInt32.self)
        dropped = (ringBase + Int(offsets.dropped)).assumingMemoryBound(to: UInt32.self)
        mask = (ringBase + Int(offsets.ring_mask)).assumingMemoryBound(to: UInt32.self).pointee
        capacity = (ringBase + Int(offsets.ring_entries)).assumingMemoryBound(to: UInt32.self).pointee
        let array = (ringBase + Int(offsets.array)).assumingMemoryBound(to: UInt32.self)
        for index in 0..<capacity { array[Int(index)] = index }
        self.entries = entries
        self.kernelPolls = kernelPolls
        pendingTail = tail.pointee
    }

    @inlinable var kernelHead: UInt32 {
        kernelPolls ? curing_load_acquire(head) : curing_load_relaxed(head)
    }

    /// Entries written (flushed or not) that the kernel has not consumed yet.
    @inlinable public var count: Int { Int(pendingTail &- kernelHead) }

    /// Free slots for `push`.
    @inlinable public var freeCount: Int { Int(capacity) - count }

    /// Whether `push` would refuse the next entry.
    @inlinable public var isFull: Bool { count >= Int(capacity) }

    /// Entries written since the last `flush`, not yet visible to the kernel.
    @inlinable public var unflushedCount: Int { Int(pendingTail &- curing_load_relaxed(tail)) }

    /// Copies `entry` into the next slot. Returns `false` when the queue is
    /// full; the entry is not written then.
    @inlinable @discardableResult
    public mutating func push(_ entry: SubmissionEntry) -> Bool {
        if pendingTail &- kernelHead >= capacity { return false }
        entries[Int(pendingTail & mask)] = entry.raw
        pendingTail &+= 1
        return true
    }

    /// Makes every pushed entry visible to the kernel (one release store) and
    /// returns how many entries the kernel has yet to consume.
    @inlinable @discardableResult
    public mutating func flush() -> Int {
        if curing_load_relaxed(tail) != pendingTail {
            curing_store_release(tail, pendingTail)
        }
        return count
    }

    /// The SQ ring's flags (`IORING_SQ_*`), read with acquire ordering.
    @inlinable public var kernelFlags: UInt32 { curing_load_acquire(flagsPointer) }

    /// Whether the completion queue overflowed and the kernel holds CQEs back
    /// (reap, then enter the kernel to flush them).
    @inlinable public var completionQueueOverflowed: Bool {
        kernelFlags & IORING_SQ_CQ_OVERFLOW != 0
    }

    /// SQEs the kernel dropped as invalid (should stay zero).
    public var droppedCount: UInt32 { curing_load_acquire(dropped) }
}
