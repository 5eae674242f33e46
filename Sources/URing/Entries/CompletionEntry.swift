// One completion (CQE): the SQE's user data, its result and flags.
import CURing

/// A completed operation as the kernel reported it.
public struct CompletionEntry: Sendable, Hashable {
    /// The `userData` of the SQE this completes.
    public var userData: UInt64
    /// The result: >= 0 on success (bytes, an fd...), `-errno` on failure.
    public var result: Int32
    /// `IORING_CQE_F_*` flags.
    public var flags: UInt32

    public init(userData: UInt64, result: Int32, flags: UInt32) {
        self.userData = userData
        self.result = result
        self.flags = flags
    }

    @inlinable init(_ raw: io_uring_cqe) {
        self.init(userData: raw.user_data, result: raw.res, flags: raw.flags)
    }

    /// A multishot request will post more completions (`IORING_CQE_F_MORE`).
    @inlinable public var hasMore: Bool { flags & IORING_CQE_F_MORE != 0 }

    /// A zero-copy send's notification that the buffer is free again.
    @inlinable public var isNotification: Bool { flags & IORING_CQE_F_NOTIF != 0 }

    /// The selected provided buffer, when the kernel picked one.
    @inlinable public var bufferID: UInt16? {
        flags & IORING_CQE_F_BUFFER != 0 ? UInt16(truncatingIfNeeded: flags >> 16) : nil
    }
}
