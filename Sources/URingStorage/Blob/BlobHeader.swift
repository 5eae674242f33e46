// The header every blob starts with, big-endian:
//   bytes 0..<4  magic "SURB"
//   bytes 4..<6  header format: 1, the compact layout (the header is these
//                8 bytes), or 2, the aligned layout (zeros pad the header to
//                4096 bytes, so data starts aligned for O_DIRECT)
//   bytes 6..<8  the blob's own version, chosen by the application
// Logical offsets start after the header.
import URing

struct BlobHeader: Equatable, Sendable {
    /// Where a blob's data starts.
    enum Layout: Equatable, Sendable {
        /// Format 1: data right after the 8 header bytes.
        case compact
        /// Format 2: data at 4096, so a blob opened for direct I/O keeps
        /// logical and physical alignment the same.
        case aligned

        var format: UInt16 { self == .compact ? 1 : 2 }
        var size: Int { self == .compact ? BlobHeader.prefixSize : BlobHeader.directAlignment }
    }

    /// The bytes every layout starts with (magic, format, version).
    static let prefixSize = 8
    /// The alignment direct I/O on a blob needs: offsets, lengths and
    /// buffer addresses (4096 serves devices with 512-byte and 4 KiB
    /// logical blocks alike).
    static let directAlignment = 4096
    static let magic: [UInt8] = Array("SURB".utf8)

    var layout: Layout
    var blobVersion: UInt16

    var size: Int { layout.size }

    /// The whole header, padding included.
    var bytes: [UInt8] {
        let format = layout.format
        let prefix = BlobHeader.magic + [UInt8(format >> 8), UInt8(format & 0xff),
                                         UInt8(blobVersion >> 8), UInt8(blobVersion & 0xff)]
        return prefix + [UInt8](repeating: 0, count: layout.size - BlobHeader.prefixSize)
    }

    /// Parses a stored header's first `prefixSize` bytes, from a file of
    /// `fileSize` bytes: nil when the file ends inside the header its layout
    /// promises (torn while being created), else the header, checked against
    /// the accepted versions.
    static func parse(
        _ bytes: [UInt8], fileSize: UInt64, accepted: ClosedRange<UInt16>, context: String
    ) throws(IOError) -> BlobHeader? {
        guard bytes.count == prefixSize, Array(bytes[0..<4]) == magic else {
            throw IOError("open", .corrupt("the blob does not start with the swift-uring magic"), context: context)
        }
        let format = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        let layout: Layout
        switch format {
        case Layout.compact.format: layout = .compact
        case Layout.aligned.format: layout = .aligned
        default: throw IOError("open", .corrupt("unknown header format \(format)"), context: context)
        }
        guard fileSize >= UInt64(layout.size) else { return nil }
        let version = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        guard accepted.contains(version) else {
            throw IOError("open", .unsupportedVersion(found: version, accepted: accepted), context: context)
        }
        return BlobHeader(layout: layout, blobVersion: version)
    }

    /// Whether `contents`, a whole file that `parse` called corrupt, is
    /// what a blob's creation leaves when the machine stops before the
    /// header's fsync: the file's length may reach the disk without its
    /// bytes, which then read as zeros. So: no longer than the largest
    /// header, every byte zero or what a header holds there (any version),
    /// and zeros after the prefix. Such a file holds no data, so making the
    /// blob again loses nothing; anything else stays `.corrupt`.
    static func isInterruptedCreation(_ contents: [UInt8]) -> Bool {
        guard contents.count <= Layout.aligned.size else { return false }
        for (index, byte) in contents.enumerated() where byte != 0 {
            switch index {
            case 0..<4:
                guard byte == magic[index] else { return false }
            case 5:
                // A compact header is the whole file: a longer one is aligned.
                let compactFits = byte == UInt8(Layout.compact.format) && contents.count <= prefixSize
                guard compactFits || byte == UInt8(Layout.aligned.format) else { return false }
            case 6, 7:
                continue  // the blob's version, whatever the application chose
            default:
                return false  // the format's high byte, and the padding
            }
        }
        return true
    }
}
