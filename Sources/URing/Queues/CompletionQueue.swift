// The completion queue shared with the kernel.
//
// Invariants: the kernel writes CQEs and the tail; only the ring's owner
// reads CQEs and moves the head. The tail is read with acquire ordering (so
// the CQE contents it covers are visible) and the head is published with a
// release store (so the kernel does not overwrite a CQE still being read).
import CURing

/// The ring's completion side. Owned by `Ring`; not thread-safe.
public struct CompletionQueue {
    @usableFromInline let head: UnsafeMutablePointer<UInt32>
    @usableFromInline let tail: UnsafeMutablePointer<UInt32>
    @usableFromInline let overflowPointer: UnsafeMutablePointer<UInt32>
    @usableFromInline let entries: UnsafeMutablePointer<io_uring_cqe>
    @usableFromInline let mask: UInt32
    /// Number of CQE slots.
    public let capacity: UInt32

    init(ringBase: UnsafeMutableRawPointer, offsets: io_cqring_offsets) {
        head = (ringBase + Int(offsets.head)).assumingMemoryBound(to: UInt32.self)
        tail = (ringBase + Int(offsets.tail)).assumingMemoryBound(to: UInt32.self)
        overflowPointer = (ringBase + Int(offsets.overflow)).assumingMemoryBound(to: UInt32.self)
        entries = (ringBase + Int(offsets.cqes)).assumingMemoryBound(to: io_uring_cqe.self)
        mask = (ringBase + Int(offsets.ring_mask)).assumingMemoryBound(to: UInt32.self).pointee
        capacity = (ringBase + Int(offsets.ring_entries)).assumingMemoryBound(to: UInt32.self).pointee
    }

    /// Completions ready to be read.
    @inlinable public var readyCount: Int {
        Int(curing_load_acquire(tail) &- curing_load_relaxed(head))
    }

    /// The oldest unread completion, without consuming it.
    @inlinable public func peek() -> CompletionEntry? {
        let current = curing_load_relaxed(head)
        guard current != curing_load_acquire(tail) else { return nil }
        return CompletionEntry(entries[Int(current & mask)])
    }

    /// Consumes `count` completions (after `peek` or an external read).
    @inlinable public mutating func advance(by count: Int) {
        guard count > 0 else { return }
        curing_store_release(head, curing_load_relaxed(head) &+ UInt32(count))
    }

    /// Calls `body` for every ready completion in order, then consumes them
    /// all with one release store. Returns how many there were.
    @inlinable @discardableResult
    public mutating func forEach(_ body: (CompletionEntry) throws -> Void) rethrows -> Int {
        let start = curing_load_relaxed(head)
        let end = curing_load_acquire(tail)
        var current = start
        defer { if current != start { curing_store_release(head, current) } }
        while current != end {
            let entry = CompletionEntry(entries[Int(current & mask)])
            current &+= 1
            try body(entry)
        }
        return Int(end &- start)
    }

    /// How many completions the kernel had to drop or hold back because this
    /// queue was full (see also `SubmissionQueue.completionQueueOverflowed`).
    public var overflowCount: UInt32 { curing_load_acquire(overflowPointer) }
}
