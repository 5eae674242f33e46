// The I/O operations a Handle offers. Arguments a caller can get wrong are
// checked here and thrown as `.invalidArgument`, before anything is queued.
import CURing
import Glibc
import URing

extension Handle {
    /// A no-op round trip through the ring.
    @inlinable @inline(__always)
    public func nop(deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(nopRequest(deadline: deadline))
    }

    // MARK: Files
    //
    // `cancellable` (reads and writes): whether cancelling the calling task
    // cancels the request in flight, as it must for pipes, FIFOs and
    // character devices that may never answer. Pass `false` for regular
    // files and block devices: the kernel finishes those promptly and could
    // not interrupt them anyway, and skipping the task-cancellation hook
    // saves the Swift runtime's global status-record lock on every request.
    // Either way, a task cancelled before the call gets `CancellationError`.

    /// Reads exactly `count` bytes at `offset` (`nil`: the current position,
    /// for pipes) into `buffer`, continuing after short reads.
    ///
    /// `cacheFirst` (buffered regular files and block devices, with an
    /// offset): first copy what the page cache holds on the calling thread
    /// (`preadv2` with `RWF_NOWAIT`, which refuses rather than wait for the
    /// device), and hand only the rest to the ring. A cached 4 KiB read
    /// costs the kernel under a microsecond, while the trip to the loop
    /// thread and back costs the task two thread hand-offs; io_uring makes
    /// the same non-waiting attempt itself, on the loop's thread. Never for
    /// an `O_DIRECT` descriptor: there a synchronous read waits for the
    /// device whatever the flag says. A read that found everything cached
    /// does not suspend; one that found part continues in the ring where
    /// the copy ended. Ignored for a task cancelled before the call (it
    /// gets `CancellationError` from the ring path) and once the loop is
    /// shut down (`.shutdown`, as the ring would answer).
    ///
    /// - Returns: `buffer`, with `count` set.
    /// - Throws: `IOError` `.endOfFile` if the file ends first; `.errno` for
    ///   kernel errors; `.invalidArgument` if `count` exceeds the capacity.
    @inlinable @inline(__always)  // no async frame of its own, in any module (see `HandleCore.perform`)
    public func read(
        from fd: Int32, at offset: UInt64?, into buffer: IOBuffer, count: Int? = nil,
        rwFlags: Int32 = 0, deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true, cacheFirst: Bool = false
    ) async throws -> IOBuffer {
        guard let request = try readRequest(from: fd, at: offset, into: buffer, count: count, rwFlags: rwFlags,
                                            deadline: deadline, cancellable: cancellable, cacheFirst: cacheFirst)
        else { return buffer }
        return try await core.perform(request)
    }

    /// Reads exactly `count` bytes at `offset` and returns them
    /// (`cacheFirst` as for `read(from:at:into:)`).
    public func read(
        from fd: Int32, at offset: UInt64?, count: Int, deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true,
        cacheFirst: Bool = false
    ) async throws -> [UInt8] {
        try Handle.check(count: count, capacity: count, offset: offset, operation: "read")
        return try await read(from: fd, at: offset, into: IOBuffer(capacity: count, orThrowFor: "read"), count: count,
                              deadline: deadline, cancellable: cancellable, cacheFirst: cacheFirst).bytes
    }

    /// Writes every byte of `buffers` (vectored when more than one) at
    /// `offset` (`nil`: the current position), continuing after short writes.
    /// `rwFlags` takes `RWF_*` such as `RWF_DSYNC`.
    ///
    /// `thenSync`: once every byte is written, `fdatasync` the file before
    /// returning, which makes this write and every earlier one durable (a
    /// log's commit). The loop submits the sync itself, so the caller makes
    /// one trip to the loop instead of two; an empty write still syncs. A
    /// failed sync throws `IOError` for `fdatasync`, after the bytes were
    /// written.
    @inlinable @inline(__always)
    public func write(
        _ buffers: [IOBuffer], to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true, thenSync: Bool = false
    ) async throws {
        guard let request = try writeRequest(buffers, to: fd, at: offset, rwFlags: rwFlags, deadline: deadline,
                                             cancellable: cancellable, thenSync: thenSync) else { return }
        try await core.perform(request)
    }

    /// Writes every byte of `buffer` at `offset` (`nil`: the current
    /// position), continuing after short writes.
    @inlinable @inline(__always)
    public func write(
        _ buffer: IOBuffer, to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true, thenSync: Bool = false
    ) async throws {
        guard let request = try writeRequest(buffer, to: fd, at: offset, rwFlags: rwFlags, deadline: deadline,
                                             cancellable: cancellable, thenSync: thenSync) else { return }
        try await core.perform(request)
    }

    /// Writes `bytes` at `offset`.
    public func write(
        _ bytes: [UInt8], to fd: Int32, at offset: UInt64?, rwFlags: Int32 = 0,
        deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true, thenSync: Bool = false
    ) async throws {
        try await write(IOBuffer(bytes: bytes), to: fd, at: offset, rwFlags: rwFlags, deadline: deadline,
                        cancellable: cancellable, thenSync: thenSync)
    }

    /// `fsync` (or `fdatasync` when `dataOnly`).
    public func sync(_ fd: Int32, dataOnly: Bool = false, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(syncRequest(fd, dataOnly: dataOnly, deadline: deadline))
    }

    /// Sets the size of the file `fd` refers to (`ftruncate`): through the
    /// ring on Linux 6.9+, so the calling thread does not block while the
    /// filesystem frees or allocates blocks; on older kernels, which lack
    /// the operation, with the system call on the calling thread.
    ///
    /// - Throws: `IOError` `.invalidArgument` for a length past the largest
    ///   file size, or the kernel's errno (`EBADF`, `EINVAL` for a
    ///   descriptor not open for writing or not a regular file...).
    public func truncate(_ fd: Int32, to length: UInt64, deadline: ContinuousClock.Instant? = nil) async throws {
        guard length <= UInt64(Int64.max) else {
            throw IOError("ftruncate", .invalidArgument("length \(length) is past the largest file size"), context: "fd \(fd)")
        }
        var ringRejected = false
        if core.ringTruncates.load(ordering: .relaxed) {
            do {
                return try await core.perform(DescriptorRequest(
                    "ftruncate", fd: fd, entry: .ftruncate(fd: fd, length: length), deadline: deadline))
            } catch let error as IOError where error.errno == EINVAL {
                // An old kernel's answer to an unknown opcode, or the
                // descriptor's own fault: the system call tells them apart.
                ringRejected = true
            }
        }
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw IOError("ftruncate", errno: curing_errno(), context: "fd \(fd)")
        }
        if ringRejected { core.ringTruncates.store(false, ordering: .relaxed) }
    }

    /// Allocates (or with `.punchHole` frees) disk space for `count` bytes
    /// of the file `fd` refers to, from `offset` (`fallocate`). Writes into
    /// allocated space cannot fail for want of room on filesystems that
    /// write in place (ext4, XFS, tmpfs), which is why a log preallocates
    /// its segments. The kernel always runs this on one of its workers, so
    /// no thread of ours waits for the filesystem; like `sync`, it is not
    /// cancelled in flight.
    ///
    /// - Throws: `IOError` `.invalidArgument` for a `count` of 0 or a range
    ///   past the largest file size, or the kernel's errno: `ENOSPC`,
    ///   `EOPNOTSUPP` (the filesystem lacks the mode), `EBADF` (not open
    ///   for writing), `ESPIPE` (a pipe or socket), `ENODEV` (not a regular
    ///   file or directory).
    public func allocate(
        _ fd: Int32, at offset: UInt64, count: UInt64, mode: AllocationMode = .allocate,
        deadline: ContinuousClock.Instant? = nil
    ) async throws {
        guard count > 0 else {
            throw IOError("fallocate", .invalidArgument("count must be positive"), context: "fd \(fd)")
        }
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, end <= UInt64(Int64.max) else {
            throw IOError("fallocate", .invalidArgument("offset \(offset) + \(count) bytes is past the largest file size"),
                          context: "fd \(fd)")
        }
        try await core.perform(DescriptorRequest(
            "fallocate", fd: fd, entry: .fallocate(fd: fd, mode: mode.rawValue, offset: offset, length: count),
            deadline: deadline))
    }

    // MARK: Paths
    //
    // Metadata calls that never wait for the disk on the calling thread
    // (with two CPUs, Swift's cooperative pool has two): through the ring,
    // the kernel resolves the path inline when its caches hold it and on
    // one of its own workers when the lookup must read the disk. Relative
    // paths resolve against `directory` (default: the working directory).
    // These calls take no deadline and are not cancelled in flight (a
    // cancelled task gets `CancellationError` only before submission): an
    // open the kernel completes must reach its caller, or its descriptor
    // would leak. (A loop that gives up at its `shutdownTimeout` abandons
    // what is in flight; an open abandoned there that still completes in the
    // kernel has its descriptor closed by the loop.) A path with a NUL byte
    // inside is `.invalidArgument`.

    /// Opens `path` (`openat`) with `flags` plus `O_CLOEXEC`, creating it
    /// with `mode` when `flags` has `O_CREAT`.
    ///
    /// An open that neither creates nor truncates is first tried on the
    /// calling thread with `openat2(RESOLVE_CACHED)`, which answers from the
    /// kernel's caches or refuses (EAGAIN) rather than wait for the disk:
    /// a warm path costs one system call, not a ring round trip. (The ring
    /// could not do better: io_uring's own inline attempt is the same
    /// cached lookup, and it hands every creating open to a worker.)
    ///
    /// Neither attempt waits for a FIFO's other end: as io_uring's inline
    /// open does, both open with `O_NONBLOCK` (cleared again from the file
    /// unless `flags` has it). A FIFO opens read-only at once, and
    /// write-only fails with `ENXIO` while no reader has it open. An open
    /// the ring hands to a kernel worker (one that creates or truncates, or
    /// whose path must first be read from the disk) waits there for a
    /// FIFO's other end, as `open(2)` would: no thread of ours waits, but
    /// the caller does, and so does a shutdown without a `shutdownTimeout`.
    ///
    /// - Returns: the new descriptor, the caller's to close.
    /// - Throws: `IOError` with the kernel's errno (`ENOENT`, `EACCES`,
    ///   `ENOTDIR`...) and the path as context.
    public func open(
        _ path: String, flags: Int32, mode: mode_t = 0o644, relativeTo directory: Int32 = AT_FDCWD
    ) async throws -> Int32 {
        let request = try PathRequest(
            "open", kind: .open(flags: flags | O_CLOEXEC, mode: UInt32(mode)), path: path, directory: directory)
        // (O_TMPFILE includes O_DIRECTORY's bit: only all of its bits mean it.)
        if flags & O_CREAT == 0 && flags & CURING_O_TMPFILE != CURING_O_TMPFILE {
            if Task.isCancelled { throw CancellationError() }
            // As the ring would: a loop that is shut down takes no more work.
            if core.channel.isClosed { throw IOError("open", .shutdown, context: path) }
            switch request.openFromCache() {
            case .opened(let fd): return fd
            case .failed(let error): throw error
            case .needsTheRing: break
            }
        }
        return try await core.perform(request)
    }

    /// Creates the directory `path` (`mkdirat`); `EEXIST` if anything is
    /// there already.
    public func makeDirectory(_ path: String, mode: mode_t = 0o755, relativeTo directory: Int32 = AT_FDCWD) async throws {
        _ = try await core.perform(PathRequest(
            "mkdir", kind: .makeDirectory(mode: UInt32(mode)), path: path, directory: directory))
    }

    /// Removes the file (or symlink, socket...) `path` (`unlinkat`);
    /// `EISDIR` for a directory.
    public func removeFile(_ path: String, relativeTo directory: Int32 = AT_FDCWD) async throws {
        _ = try await core.perform(PathRequest("unlink", kind: .remove(flags: 0), path: path, directory: directory))
    }

    /// Removes the empty directory `path` (`unlinkat` with `AT_REMOVEDIR`);
    /// `ENOTEMPTY` if it still has entries.
    public func removeDirectory(_ path: String, relativeTo directory: Int32 = AT_FDCWD) async throws {
        _ = try await core.perform(PathRequest(
            "rmdir", kind: .remove(flags: AT_REMOVEDIR), path: path, directory: directory))
    }

    /// Renames `path` to `newPath` (`renameat2`), atomically replacing
    /// whatever `newPath` names unless `replacing` is false (then `EEXIST`
    /// if it exists). `newPath` resolves against `newDirectory`, which
    /// defaults to `directory`.
    public func rename(
        _ path: String, to newPath: String, replacing: Bool = true,
        relativeTo directory: Int32 = AT_FDCWD, newRelativeTo newDirectory: Int32? = nil
    ) async throws {
        let flags = replacing ? 0 : CURING_RENAME_NOREPLACE
        _ = try await core.perform(PathRequest(
            "rename", kind: .rename(newPath: newPath, newDirectory: newDirectory ?? directory, flags: flags),
            path: path, directory: directory))
    }

    // MARK: Sockets

    /// Sends every byte of `buffers` (vectored when more than one) on a
    /// stream socket; a datagram socket takes `sendDatagram`. After a
    /// failure part of the data may have been sent: do not reuse the stream.
    ///
    /// With `readyFirst`, called off the loop's thread, what the socket has
    /// room for right now is sent on this thread first (a nonblocking
    /// `sendmsg`: io_uring's own first attempt, without the trip to the
    /// loop and back), and only the rest goes through the ring, which waits
    /// for room. A send that fits does not suspend.
    @inlinable @inline(__always)
    public func send(
        _ buffers: [IOBuffer], to fd: Int32, deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws {
        guard let request = try sendRequest(buffers, to: fd, deadline: deadline, readyFirst: readyFirst) else { return }
        try await core.perform(request)
    }

    /// Sends every byte of `buffer` (a plain send: no iovec, no msghdr);
    /// `readyFirst` as for `send(_: [IOBuffer], to:)`.
    @inlinable @inline(__always)
    public func send(
        _ buffer: IOBuffer, to fd: Int32, deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws {
        guard let request = try sendRequest(buffer, to: fd, deadline: deadline, readyFirst: readyFirst) else { return }
        try await core.perform(request)
    }

    /// Sends every byte of `buffers` without suspending anyone. For layers
    /// that keep their own write queue (URingNetwork's `Sink.write`).
    ///
    /// A send that ends on this thread is returned and `completion` is not
    /// called: nothing to send, or with `readyFirst` (as for
    /// `send(_: [IOBuffer], to:)`) a socket that took every byte at once or
    /// an attempt that failed. Otherwise (nil) the rest goes on in the ring
    /// and `completion` runs once the kernel has taken it all or the send
    /// failed: on the loop thread (here, with `.shutdown`, when the loop has
    /// stopped), so it must be quick and must not block. A queue that sends
    /// its next batch when one ends thus loops over the batches that end
    /// here, rather than nesting one completion in another per batch.
    package func send(
        _ buffers: [IOBuffer], to fd: Int32, deadline: ContinuousClock.Instant?, readyFirst: Bool = false,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) -> Result<Void, any Error>? {
        // One buffer still goes out as a plain send: IOVectors keeps it inline.
        let request: ValueRequest<Void>?
        do {
            request = try sendRequest(buffers, to: fd, deadline: deadline, readyFirst: readyFirst)
        } catch {
            return .failure(error)
        }
        guard let request else { return .success(()) }
        core.submit(request, completionHandler: completion)
        return nil
    }

    /// Sends every byte of `bytes`.
    public func send(
        _ bytes: [UInt8], to fd: Int32, deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws {
        try await send(IOBuffer(bytes: bytes), to: fd, deadline: deadline, readyFirst: readyFirst)
    }

    /// Receives into `buffer` at byte `start` (default 0): with `exact`,
    /// exactly `count` bytes (a peer that closes first throws `.endOfFile`);
    /// otherwise one receive of at most `count` bytes (default: the rest of
    /// the capacity), where no new bytes mean the peer closed its side.
    ///
    /// With `readyFirst`, called off the loop's thread, what the socket
    /// already holds is taken on this thread first (a nonblocking `recv`:
    /// io_uring's own first attempt, without the trip to the loop and
    /// back), and the ring is asked only for what is still to come. A
    /// receive the socket can answer at once does not suspend; one that
    /// must wait costs the failed attempt, a system call, on top.
    ///
    /// - Returns: `buffer`, with `count` = `start` + bytes received.
    @inlinable @inline(__always)
    public func receive(
        from fd: Int32, into buffer: IOBuffer, startingAt start: Int = 0, count: Int? = nil, exact: Bool = false,
        deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws -> IOBuffer {
        guard let request = try receiveRequest(from: fd, into: buffer, startingAt: start, count: count, exact: exact,
                                               deadline: deadline, readyFirst: readyFirst) else { return buffer }
        return try await core.perform(request)
    }

    /// Receives up to (or, with `exact`, exactly) `count` bytes;
    /// `readyFirst` as for `receive(from:into:)`.
    public func receive(
        from fd: Int32, count: Int, exact: Bool = false, deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws -> [UInt8] {
        try Handle.check(count: count, capacity: count, offset: nil, operation: "recv")
        return try await receive(from: fd, into: IOBuffer(capacity: count, orThrowFor: "recv"), count: count, exact: exact,
                                 deadline: deadline, readyFirst: readyFirst).bytes
    }

    /// Sends the valid bytes of `buffer` as one datagram on `fd` (`sendmsg`):
    /// to `address`, or with nil to the peer a connected socket was
    /// connected to. A datagram leaves whole or not at all; an empty one is
    /// a datagram too.
    ///
    /// - Throws: the kernel's errno, naming the size and destination:
    ///   `EMSGSIZE` for more than the protocol carries in one datagram
    ///   (65,507 bytes over UDP/IPv4), `EDESTADDRREQ` for no address on a
    ///   socket that is not connected, `ECONNREFUSED` on a connected socket
    ///   whose peer refused an earlier one.
    ///
    /// With `readyFirst` (as for `send(_:to:)`), a socket with room takes
    /// the datagram on this thread; one without waits for room in the ring.
    public func sendDatagram(
        _ buffer: IOBuffer, on fd: Int32, to address: SocketAddress? = nil, deadline: ContinuousClock.Instant? = nil,
        readyFirst: Bool = false
    ) async throws {
        if readyFirst && core.triesSocketsHere, try core.sendDatagramReady(fd, buffer, to: address) { return }
        try await core.perform(DatagramSendRequest(fd: fd, buffer: buffer, to: address, deadline: deadline))
    }

    /// Receives one datagram on `fd` into `buffer` (`recvmsg`), setting
    /// `buffer.count` to its length.
    ///
    /// - Returns: the sender's address (for a socket that was shut down
    ///   while waiting, an empty one, family `AF_UNSPEC`, and no bytes).
    /// - Throws: `IOError` `.errno(EMSGSIZE)` when the datagram was longer
    ///   than `buffer.capacity`: the kernel keeps only what fits and drops
    ///   the rest, so the datagram is reported, with both sizes and its
    ///   sender, instead of returned cut short; the next receive gets the
    ///   next datagram.
    ///
    /// With `readyFirst` (as for `receive(from:into:)`), a datagram the
    /// socket already holds is taken on this thread, without the ring.
    public func receiveDatagram(
        on fd: Int32, into buffer: IOBuffer, deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws -> SocketAddress {
        if readyFirst && core.triesSocketsHere, let sender = try core.receiveDatagramReady(fd, into: buffer) {
            return sender
        }
        return try await core.perform(DatagramReceiveRequest(fd: fd, buffer: buffer, deadline: deadline))
    }

    /// Receives up to `buffers.count` datagrams on `fd`, one per buffer, in
    /// one trip: waits for the first as `receiveDatagram` does, then takes
    /// whatever else the socket already holds, without waiting, until the
    /// buffers are full or the socket has nothing more. Each filled buffer's
    /// `count` is its datagram's length.
    ///
    /// - Returns: one sender per filled buffer, in order, and the error
    ///   that ended the batch after its first datagram, if one did (a
    ///   datagram too long for its buffer, `EMSGSIZE`, was dropped by the
    ///   kernel; report it as the next receive's). A deadline or cancel
    ///   that comes after the first datagram ends the batch with what it has.
    /// - Throws: as `receiveDatagram`, when no datagram was received;
    ///   `IOError` `.invalidArgument` for no buffers.
    ///
    /// With `readyFirst`, the datagrams the socket already holds are taken
    /// on this thread, without the ring; only a batch that finds none
    /// waits there for its first.
    public func receiveDatagrams(
        on fd: Int32, into buffers: [IOBuffer], deadline: ContinuousClock.Instant? = nil, readyFirst: Bool = false
    ) async throws -> ReceivedDatagrams {
        guard !buffers.isEmpty else { throw IOError("recvmsg", .invalidArgument("a batch of receives needs a buffer")) }
        if readyFirst && core.triesSocketsHere, let received = try core.receiveDatagramsReady(fd, into: buffers) {
            return received
        }
        return try await core.perform(DatagramBatchReceiveRequest(fd: fd, buffers: buffers, deadline: deadline))
    }

    /// Accepts one connection on a listening socket.
    public func accept(on fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws -> AcceptedSocket {
        try await core.perform(AcceptRequest(fd: fd, deadline: deadline))
    }

    /// Accepts one connection without suspending anyone: `completion` runs
    /// once, on the loop thread (or at once on this thread if the loop has
    /// shut down), so it must be quick and must not block. The request has
    /// no deadline and no task to cancel it; a shutdown of the listening
    /// socket ends it, and so does any shutdown of the loop, a draining one
    /// too (`IOError` `.shutdown`): an accept armed ahead is not work in
    /// flight. For layers that keep accepts armed ahead of their callers
    /// (URingNetwork's `Listener`).
    package func accept(on fd: Int32, completion: @escaping @Sendable (Result<AcceptedSocket, any Error>) -> Void) {
        core.submit(AcceptRequest(fd: fd, deadline: nil, armedAhead: true), completionHandler: completion)
    }

    /// Connects a socket to `address`.
    public func connect(_ fd: Int32, to address: SocketAddress, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(ConnectRequest(fd: fd, peer: address, deadline: deadline))
    }

    /// Closes `fd` through the ring.
    public func close(_ fd: Int32, deadline: ContinuousClock.Instant? = nil) async throws {
        try await core.perform(DescriptorRequest("close", fd: fd, entry: .close(fd: fd), deadline: deadline))
    }

    static func check(count: Int, capacity: Int, offset: UInt64?, operation: String) throws(IOError) {
        guard count >= 0 else { throw IOError(operation, .invalidArgument("negative byte count \(count)")) }
        guard count <= capacity else {
            throw IOError(operation, .invalidArgument("\(count) bytes do not fit in a buffer of \(capacity)"))
        }
        if let offset {
            let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
            guard !overflow, end <= UInt64(Int64.max) else {
                throw IOError(operation, .invalidArgument("offset \(offset) + \(count) bytes is past the largest file offset"))
            }
        }
    }
}
