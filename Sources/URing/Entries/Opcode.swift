// io_uring operation codes, including those newer than the build headers.
import CURing

/// An io_uring operation (`IORING_OP_*`).
public struct Opcode: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    init(_ op: io_uring_op) { rawValue = UInt8(op.rawValue) }

    public static let nop = Opcode(IORING_OP_NOP)
    public static let readv = Opcode(IORING_OP_READV)
    public static let writev = Opcode(IORING_OP_WRITEV)
    public static let fsync = Opcode(IORING_OP_FSYNC)
    public static let readFixed = Opcode(IORING_OP_READ_FIXED)
    public static let writeFixed = Opcode(IORING_OP_WRITE_FIXED)
    public static let pollAdd = Opcode(IORING_OP_POLL_ADD)
    public static let pollRemove = Opcode(IORING_OP_POLL_REMOVE)
    public static let sendmsg = Opcode(IORING_OP_SENDMSG)
    public static let recvmsg = Opcode(IORING_OP_RECVMSG)
    public static let timeout = Opcode(IORING_OP_TIMEOUT)
    public static let accept = Opcode(IORING_OP_ACCEPT)
    public static let asyncCancel = Opcode(IORING_OP_ASYNC_CANCEL)
    public static let linkTimeout = Opcode(IORING_OP_LINK_TIMEOUT)
    public static let connect = Opcode(IORING_OP_CONNECT)
    public static let fallocate = Opcode(IORING_OP_FALLOCATE)
    public static let openat = Opcode(IORING_OP_OPENAT)
    public static let close = Opcode(IORING_OP_CLOSE)
    public static let statx = Opcode(IORING_OP_STATX)
    public static let unlinkat = Opcode(IORING_OP_UNLINKAT)
    public static let mkdirat = Opcode(IORING_OP_MKDIRAT)
    public static let renameat = Opcode(IORING_OP_RENAMEAT)
    public static let read = Opcode(IORING_OP_READ)
    public static let write = Opcode(IORING_OP_WRITE)
    public static let send = Opcode(IORING_OP_SEND)
    public static let recv = Opcode(IORING_OP_RECV)
    public static let provideBuffers = Opcode(IORING_OP_PROVIDE_BUFFERS)
    public static let shutdown = Opcode(IORING_OP_SHUTDOWN)
    public static let socket = Opcode(IORING_OP_SOCKET)
    public static let sendZeroCopy = Opcode(IORING_OP_SEND_ZC)
    public static let ftruncate = Opcode(rawValue: UInt8(CURING_OP_FTRUNCATE))
    public static let bind = Opcode(rawValue: UInt8(CURING_OP_BIND))
    public static let listen = Opcode(rawValue: UInt8(CURING_OP_LISTEN))
}
