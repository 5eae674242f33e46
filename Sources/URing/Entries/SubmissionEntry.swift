// One submission (SQE), built by a typed constructor per operation.
//
// Constructors take raw pointers: the memory they name (buffers, iovecs,
// addresses, paths, timespecs) must stay valid and unmoved until the
// operation's last CQE. The loop's requests own that memory; a user of the
// raw ring is responsible for it.
import CURing

/// A submission queue entry ready to `push`.
public struct SubmissionEntry {
    /// The kernel's 64-byte SQE.
    public var raw: io_uring_sqe

    /// An entry for `opcode` on `fd`, every other field zero.
    @inlinable public init(opcode: Opcode, fd: Int32 = -1) {
        raw = io_uring_sqe()
        raw.opcode = opcode.rawValue
        raw.fd = fd
    }

    /// The operation.
    @inlinable public var opcode: Opcode { Opcode(rawValue: raw.opcode) }

    /// The value the completion will carry back.
    @inlinable public var userData: UInt64 {
        get { raw.user_data }
        set { raw.user_data = newValue }
    }

    /// `IOSQE_*` flags.
    @inlinable public var flags: SubmissionFlags {
        get { SubmissionFlags(rawValue: raw.flags) }
        set { raw.flags = newValue.rawValue }
    }

    /// The provided-buffer group to select from (with `.bufferSelect`).
    @inlinable public var bufferGroup: UInt16 {
        get { raw.buf_group }
        set { raw.buf_group = newValue }
    }

    /// Returns a copy with `userData` set.
    @inlinable public func userData(_ value: UInt64) -> SubmissionEntry {
        var copy = self
        copy.raw.user_data = value
        return copy
    }

    /// Returns a copy with `flags` added.
    @inlinable public func flags(_ value: SubmissionFlags) -> SubmissionEntry {
        var copy = self
        copy.raw.flags |= value.rawValue
        return copy
    }

    @inlinable init(opcode: Opcode, fd: Int32, address: UInt64, length: UInt32, offset: UInt64) {
        self.init(opcode: opcode, fd: fd)
        raw.addr = address
        raw.len = length
        raw.off = offset
    }
}

@inlinable func address(_ pointer: UnsafeRawPointer?) -> UInt64 {
    UInt64(UInt(bitPattern: pointer))
}

// MARK: - Operations

extension SubmissionEntry {
    /// Does nothing; completes with 0. Measures the ring's own cost.
    @inlinable public static func nop() -> SubmissionEntry {
        SubmissionEntry(opcode: .nop)
    }

    /// `pread`: up to `count` bytes at `offset` into `buffer`
    /// (`offset` `UInt64.max` means the file position). `rwFlags` are `RWF_*`.
    @inlinable public static func read(
        fd: Int32, into buffer: UnsafeMutableRawPointer, count: UInt32, offset: UInt64, rwFlags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .read, fd: fd, address: address(buffer), length: count, offset: offset)
        entry.raw.rw_flags = UInt32(bitPattern: rwFlags)
        return entry
    }

    /// `pwrite`: up to `count` bytes of `buffer` at `offset`.
    @inlinable public static func write(
        fd: Int32, from buffer: UnsafeRawPointer, count: UInt32, offset: UInt64, rwFlags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .write, fd: fd, address: address(buffer), length: count, offset: offset)
        entry.raw.rw_flags = UInt32(bitPattern: rwFlags)
        return entry
    }

    /// `preadv2` over `iovecCount` iovecs.
    @inlinable public static func readv(
        fd: Int32, iovecs: UnsafePointer<iovec>, iovecCount: UInt32, offset: UInt64, rwFlags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .readv, fd: fd, address: address(iovecs), length: iovecCount, offset: offset)
        entry.raw.rw_flags = UInt32(bitPattern: rwFlags)
        return entry
    }

    /// `pwritev2` over `iovecCount` iovecs.
    @inlinable public static func writev(
        fd: Int32, iovecs: UnsafePointer<iovec>, iovecCount: UInt32, offset: UInt64, rwFlags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .writev, fd: fd, address: address(iovecs), length: iovecCount, offset: offset)
        entry.raw.rw_flags = UInt32(bitPattern: rwFlags)
        return entry
    }

    /// Read into registered buffer `bufferIndex`; `buffer` must lie inside it.
    @inlinable public static func readFixed(
        fd: Int32, into buffer: UnsafeMutableRawPointer, count: UInt32, offset: UInt64, bufferIndex: UInt16
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .readFixed, fd: fd, address: address(buffer), length: count, offset: offset)
        entry.raw.buf_index = bufferIndex
        return entry
    }

    /// Write from registered buffer `bufferIndex`; `buffer` must lie inside it.
    @inlinable public static func writeFixed(
        fd: Int32, from buffer: UnsafeRawPointer, count: UInt32, offset: UInt64, bufferIndex: UInt16
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .writeFixed, fd: fd, address: address(buffer), length: count, offset: offset)
        entry.raw.buf_index = bufferIndex
        return entry
    }

    /// `fsync`, or `fdatasync` when `dataOnly`.
    @inlinable public static func fsync(fd: Int32, dataOnly: Bool = false) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .fsync, fd: fd)
        entry.raw.fsync_flags = dataOnly ? IORING_FSYNC_DATASYNC : 0
        return entry
    }

    /// `ftruncate(fd, length)` (IORING_OP_FTRUNCATE, Linux 6.9+; older
    /// kernels complete it with `-EINVAL`).
    @inlinable public static func ftruncate(fd: Int32, length: UInt64) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .ftruncate, fd: fd)
        entry.raw.off = length
        return entry
    }

    /// `fallocate(fd, mode, offset, length)`.
    @inlinable public static func fallocate(fd: Int32, mode: Int32 = 0, offset: UInt64, length: UInt64) -> SubmissionEntry {
        // The kernel reads the length from `addr` and the mode from `len`.
        SubmissionEntry(opcode: .fallocate, fd: fd, address: length, length: UInt32(bitPattern: mode), offset: offset)
    }

    /// `openat(directory, path, flags, mode)`; completes with the new fd.
    @inlinable public static func openat(
        directory: Int32, path: UnsafePointer<CChar>, flags: Int32, mode: UInt32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .openat, fd: directory, address: address(path), length: mode, offset: 0)
        entry.raw.open_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `unlinkat(directory, path, flags)`: removes a file, or an empty
    /// directory with `AT_REMOVEDIR` in `flags`.
    @inlinable public static func unlinkat(directory: Int32, path: UnsafePointer<CChar>, flags: Int32 = 0) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .unlinkat, fd: directory, address: address(path), length: 0, offset: 0)
        entry.raw.unlink_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `renameat2(directory, path, newDirectory, newPath, flags)`:
    /// `RENAME_NOREPLACE` in `flags` refuses (`EEXIST`) to replace an
    /// existing `newPath`.
    @inlinable public static func renameat(
        directory: Int32, path: UnsafePointer<CChar>, newDirectory: Int32, newPath: UnsafePointer<CChar>, flags: UInt32 = 0
    ) -> SubmissionEntry {
        // The new directory goes in `len`, the new path in `addr2`.
        var entry = SubmissionEntry(opcode: .renameat, fd: directory, address: address(path),
                                    length: UInt32(bitPattern: newDirectory), offset: address(newPath))
        entry.raw.rename_flags = flags
        return entry
    }

    /// `mkdirat(directory, path, mode)`.
    @inlinable public static func mkdirat(directory: Int32, path: UnsafePointer<CChar>, mode: UInt32) -> SubmissionEntry {
        SubmissionEntry(opcode: .mkdirat, fd: directory, address: address(path), length: mode, offset: 0)
    }

    /// `close(fd)`.
    @inlinable public static func close(fd: Int32) -> SubmissionEntry {
        SubmissionEntry(opcode: .close, fd: fd)
    }

    /// `statx(directory, path, flags, mask, buffer)`; `buffer` holds a `struct statx`.
    @inlinable public static func statx(
        directory: Int32, path: UnsafePointer<CChar>, flags: Int32, mask: UInt32, buffer: UnsafeMutableRawPointer
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .statx, fd: directory, address: address(path), length: mask, offset: address(buffer))
        entry.raw.statx_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `send(fd, buffer, count, flags)`.
    @inlinable public static func send(
        fd: Int32, from buffer: UnsafeRawPointer, count: UInt32, flags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .send, fd: fd, address: address(buffer), length: count, offset: 0)
        entry.raw.msg_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `recv(fd, buffer, count, flags)`; 0 means the peer closed.
    @inlinable public static func recv(
        fd: Int32, into buffer: UnsafeMutableRawPointer, count: UInt32, flags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .recv, fd: fd, address: address(buffer), length: count, offset: 0)
        entry.raw.msg_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `sendmsg(fd, message, flags)`.
    @inlinable public static func sendmsg(fd: Int32, message: UnsafePointer<msghdr>, flags: Int32 = 0) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .sendmsg, fd: fd, address: address(message), length: 1, offset: 0)
        entry.raw.msg_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `recvmsg(fd, message, flags)`.
    @inlinable public static func recvmsg(fd: Int32, message: UnsafeMutablePointer<msghdr>, flags: Int32 = 0) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .recvmsg, fd: fd, address: address(message), length: 1, offset: 0)
        entry.raw.msg_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// Zero-copy send: a result CQE (with `IORING_CQE_F_MORE`), then a
    /// notification CQE once the kernel no longer reads `buffer`.
    @inlinable public static func sendZeroCopy(
        fd: Int32, from buffer: UnsafeRawPointer, count: UInt32, flags: Int32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .sendZeroCopy, fd: fd, address: address(buffer), length: count, offset: 0)
        entry.raw.msg_flags = UInt32(bitPattern: flags)
        return entry
    }

    /// `accept4(fd, address, length, flags)`; `multishot` posts one CQE per
    /// connection until cancelled. Address pointers may be nil.
    @inlinable public static func accept(
        fd: Int32, address peer: UnsafeMutablePointer<sockaddr>? = nil,
        length: UnsafeMutablePointer<socklen_t>? = nil, flags: Int32 = 0, multishot: Bool = false
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .accept, fd: fd, address: address(peer), length: 0, offset: address(length))
        entry.raw.accept_flags = UInt32(bitPattern: flags)
        if multishot { entry.raw.ioprio |= UInt16(IORING_ACCEPT_MULTISHOT) }
        return entry
    }

    /// `connect(fd, address, length)`.
    @inlinable public static func connect(
        fd: Int32, address peer: UnsafePointer<sockaddr>, length: socklen_t
    ) -> SubmissionEntry {
        SubmissionEntry(opcode: .connect, fd: fd, address: address(peer), length: 0, offset: UInt64(length))
    }

    /// `shutdown(fd, how)`.
    @inlinable public static func shutdown(fd: Int32, how: Int32) -> SubmissionEntry {
        SubmissionEntry(opcode: .shutdown, fd: fd, address: 0, length: UInt32(bitPattern: how), offset: 0)
    }

    /// `socket(domain, type, protocol)`; completes with the new fd.
    @inlinable public static func socket(domain: Int32, type: Int32, protocol: Int32 = 0) -> SubmissionEntry {
        SubmissionEntry(opcode: .socket, fd: domain, address: 0, length: UInt32(bitPattern: `protocol`), offset: UInt64(UInt32(bitPattern: type)))
    }

    /// Completes when `fd` has any of `events` (`POLLIN`...); `multishot`
    /// keeps posting CQEs (with `IORING_CQE_F_MORE`) until it ends or is removed.
    @inlinable public static func pollAdd(fd: Int32, events: UInt32, multishot: Bool = false) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .pollAdd, fd: fd)
        entry.raw.poll32_events = events
        if multishot { entry.raw.len = IORING_POLL_ADD_MULTI }
        return entry
    }

    /// Removes the poll whose SQE carried `target` as user data.
    @inlinable public static func pollRemove(target: UInt64) -> SubmissionEntry {
        SubmissionEntry(opcode: .pollRemove, fd: -1, address: target, length: 0, offset: 0)
    }

    /// Cancels the request whose SQE carried `target` as user data (`all`:
    /// every such request). The cancelled request completes with `-ECANCELED`;
    /// this entry completes with 0, `-ENOENT` or `-EALREADY`.
    @inlinable public static func cancel(target: UInt64, all: Bool = false) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .asyncCancel, fd: -1, address: target, length: 0, offset: 0)
        if all { entry.raw.cancel_flags = IORING_ASYNC_CANCEL_ALL }
        return entry
    }

    /// Cancels requests on `fd` (the first one, or all with `all`).
    @inlinable public static func cancel(fd: Int32, all: Bool = false) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .asyncCancel, fd: fd)
        entry.raw.cancel_flags = IORING_ASYNC_CANCEL_FD | (all ? IORING_ASYNC_CANCEL_ALL : 0)
        return entry
    }

    /// Cancels every pending request of the ring.
    @inlinable public static func cancelAny() -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .asyncCancel, fd: -1)
        entry.raw.cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL
        return entry
    }

    /// Completes after `time` (`-ETIME`) or after `count` other completions (0).
    @inlinable public static func timeout(
        _ time: UnsafePointer<__kernel_timespec>, count: UInt32 = 0, flags: UInt32 = 0
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .timeout, fd: -1, address: address(time), length: 1, offset: UInt64(count))
        entry.raw.timeout_flags = flags
        return entry
    }

    /// Cancels the preceding linked SQE if it has not completed after `time`.
    @inlinable public static func linkTimeout(_ time: UnsafePointer<__kernel_timespec>, flags: UInt32 = 0) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .linkTimeout, fd: -1, address: address(time), length: 1, offset: 0)
        entry.raw.timeout_flags = flags
        return entry
    }

    /// Hands `count` buffers of `length` bytes each, laid out from `buffers`,
    /// to provided-buffer group `group`, with ids from `startID`.
    @inlinable public static func provideBuffers(
        _ buffers: UnsafeMutableRawPointer, length: UInt32, count: Int32, group: UInt16, startID: UInt16
    ) -> SubmissionEntry {
        var entry = SubmissionEntry(opcode: .provideBuffers, fd: count, address: address(buffers), length: length, offset: UInt64(startID))
        entry.raw.buf_group = group
        return entry
    }
}
