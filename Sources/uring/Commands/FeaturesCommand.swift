// `uring features`: what this kernel's io_uring offers, and whether it has
// each operation this package submits.
import ArgumentParser
import URing

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features", abstract: "Print the kernel's io_uring features and supported opcodes.")

    /// Every operation the library submits (the loop, storage and network),
    /// then a few it does not, for the curious.
    static let opcodes: [(Opcode, String)] = [
        (.nop, "NOP"), (.read, "READ"), (.write, "WRITE"), (.writev, "WRITEV"), (.fsync, "FSYNC"),
        (.fallocate, "FALLOCATE"), (.ftruncate, "FTRUNCATE"), (.openat, "OPENAT"), (.close, "CLOSE"),
        (.mkdirat, "MKDIRAT"), (.unlinkat, "UNLINKAT"), (.renameat, "RENAMEAT"), (.pollAdd, "POLL_ADD"),
        (.asyncCancel, "ASYNC_CANCEL"), (.send, "SEND"), (.sendmsg, "SENDMSG"), (.recv, "RECV"),
        (.recvmsg, "RECVMSG"), (.accept, "ACCEPT"), (.connect, "CONNECT"),
        (.readv, "READV"), (.readFixed, "READ_FIXED"), (.sendZeroCopy, "SEND_ZC"), (.socket, "SOCKET"),
        (.bind, "BIND"), (.listen, "LISTEN"),
    ]

    /// The lines `run` prints.
    static func report(_ ring: Ring) throws -> [String] {
        let probe = try ring.probe()
        return [
            "features: \(ring.features)",
            "last opcode: \(probe.lastOpcode)",
            "opcodes: " + opcodes.map { "\($0.1)=\(probe.supports($0.0) ? "yes" : "no")" }.joined(separator: " "),
        ]
    }

    func run() throws {
        for line in try Self.report(Ring(entries: 8)) { print(line) }
    }
}
