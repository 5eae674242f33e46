// What `Handle.allocate` does to a range of a file: fallocate(2)'s modes,
// named. The raw value is the mode word the kernel takes, so any combination
// fallocate(2) documents can still be passed.
import CURing

/// How `Handle.allocate(_:at:count:mode:deadline:)` changes a file's space.
public struct AllocationMode: RawRepresentable, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Allocates blocks for the range; a range that ends past the end of
    /// the file grows it (the new bytes read as zeros). Mode 0.
    public static let allocate = AllocationMode(rawValue: 0)

    /// Allocates blocks for the range without changing the file's size:
    /// room held for later appends (`FALLOC_FL_KEEP_SIZE`).
    public static let allocateKeepingSize = AllocationMode(rawValue: Int32(FALLOC_FL_KEEP_SIZE))

    /// Frees the range's blocks, which then read as zeros; the size stays
    /// (`FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`).
    public static let punchHole = AllocationMode(rawValue: Int32(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
}
