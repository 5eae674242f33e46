// Partition names become directory names, so only a safe alphabet is
// accepted: [A-Za-z0-9_-]+, which rules out separators, "." and "..".
import URing

enum PartitionName {
    static let maximumLength = 255

    static func validate(_ partition: String) throws(IOError) {
        let bytes = Array(partition.utf8)
        guard !bytes.isEmpty else {
            throw IOError("partition", .invalidArgument("a partition name must not be empty"))
        }
        guard bytes.count <= maximumLength else {
            throw IOError("partition", .invalidArgument("a partition name is at most \(maximumLength) bytes, got \(bytes.count)"))
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                throw IOError("partition", .invalidArgument("'\(partition)' may only contain A-Z, a-z, 0-9, '_' and '-'"))
            }
        }
    }
}
