// What `Storage.scan` found in a partition.

/// The blobs of a partition, and the entries that are not blobs.
public struct PartitionScan: Sendable, Hashable {
    /// Names of the blobs (decoded), in directory order.
    public var blobs: [[UInt8]]
    /// Entries that are not blobs (subdirectories, files whose names are not
    /// canonical lowercase hex): reported, never opened or removed by scan.
    public var foreignEntries: [String]
}
