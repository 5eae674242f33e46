// Blob names are arbitrary bytes, stored on disk as lowercase hex so any name
// is a valid, unambiguous file name (and a file whose name is not exactly
// that encoding is not a blob).

import URing

enum BlobName {
    /// 127 bytes encode to 254 characters, within NAME_MAX (255).
    static let maximumLength = 127
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ name: [UInt8]) -> String {
        var text = [UInt8]()
        text.reserveCapacity(name.count * 2)
        for byte in name {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The name a file name encodes, or `nil` if it is not canonical hex.
    static func decode(_ fileName: String) -> [UInt8]? {
        let text = Array(fileName.utf8)
        guard !text.isEmpty, text.count % 2 == 0, text.count <= maximumLength * 2 else { return nil }
        var name = [UInt8]()
        name.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = value(text[index]), let low = value(text[index + 1]) else { return nil }
            name.append(high << 4 | low)
            index += 2
        }
        return name
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil  // uppercase is not canonical: a foreign file
        }
    }

    static func validate(_ name: [UInt8], partition: String) throws(IOError) {
        guard !name.isEmpty else {
            throw IOError("blob", .invalidArgument("a blob name must not be empty"), context: partition)
        }
        guard name.count <= maximumLength else {
            throw IOError("blob", .invalidArgument("a blob name is at most \(maximumLength) bytes, got \(name.count)"), context: partition)
        }
    }
}
