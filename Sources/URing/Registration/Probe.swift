// Which operations the running kernel supports (IORING_REGISTER_PROBE).
import CURing

/// The opcodes the kernel reported as supported.
public struct Probe: Sendable, Hashable {
    /// The highest opcode the kernel knows.
    public let lastOpcode: UInt8
    let supported: Set<UInt8>

    init(lastOpcode: UInt8, supported: Set<UInt8>) {
        self.lastOpcode = lastOpcode
        self.supported = supported
    }

    /// Whether the kernel can run `opcode`.
    public func supports(_ opcode: Opcode) -> Bool {
        supported.contains(opcode.rawValue)
    }
}
