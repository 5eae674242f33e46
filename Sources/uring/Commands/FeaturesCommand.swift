// `uring features`: what this kernel's io_uring offers.
import ArgumentParser
import URing

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features", abstract: "Print the kernel's io_uring features and supported opcodes.")

    func run() throws {
        let ring = try Ring(entries: 8)
        print("features: \(ring.features)")
        let probe = try ring.probe()
        print("last opcode: \(probe.lastOpcode)")
        let names: [(Opcode, String)] = [
            (.nop, "NOP"), (.read, "READ"), (.write, "WRITE"), (.readv, "READV"), (.writev, "WRITEV"),
            (.readFixed, "READ_FIXED"), (.fsync, "FSYNC"), (.send, "SEND"), (.recv, "RECV"),
            (.sendZeroCopy, "SEND_ZC"), (.accept, "ACCEPT"), (.connect, "CONNECT"), (.socket, "SOCKET"),
            (.asyncCancel, "ASYNC_CANCEL"), (.ftruncate, "FTRUNCATE"), (.bind, "BIND"), (.listen, "LISTEN"),
        ]
        print("opcodes: " + names.map { "\($0.1)=\(probe.supports($0.0) ? "yes" : "no")" }.joined(separator: " "))
    }
}
