// The 8-byte header every blob starts with, big-endian:
//   bytes 0..<4  magic "SURB"
//   bytes 4..<6  header format version (1)
//   bytes 6..<8  the blob's own version, chosen by the application
// Logical offsets start after it.
import URing

struct BlobHeader: Equatable {
    static let size = 8
    static let magic: [UInt8] = Array("SURB".utf8)
    static let formatVersion: UInt16 = 1

    var blobVersion: UInt16

    var bytes: [UInt8] {
        BlobHeader.magic + [UInt8(BlobHeader.formatVersion >> 8), UInt8(BlobHeader.formatVersion & 0xff),
                            UInt8(blobVersion >> 8), UInt8(blobVersion & 0xff)]
    }

    /// Parses and checks a stored header against the accepted versions.
    static func parse(_ bytes: [UInt8], accepted: ClosedRange<UInt16>, context: String) throws(IOError) -> BlobHeader {
        guard bytes.count == size, Array(bytes[0..<4]) == magic else {
            throw IOError("open", .corrupt("the blob does not start with the swift-uring magic"), context: context)
        }
        let format = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        guard format == formatVersion else {
            throw IOError("open", .corrupt("unknown header format \(format)"), context: context)
        }
        let version = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        guard accepted.contains(version) else {
            throw IOError("open", .unsupportedVersion(found: version, accepted: accepted), context: context)
        }
        return BlobHeader(blobVersion: version)
    }
}
