// Argument checks and request construction for the inlinable operations in
// Handle+Operations.swift. These stay opaque (only their symbols are visible
// to other modules), so the request classes and their invariants remain
// internal; the operations inline just the async hand-off around them.
// `nil` means there is nothing to submit: an empty transfer, already done.
import URing

extension Handle {
    @usableFromInline
    func nopRequest(deadline: ContinuousClock.Instant?) -> ValueRequest<Void> {
        NopRequest(deadline: deadline)
    }

    @usableFromInline
    func readRequest(
        from fd: Int32, at offset: UInt64?, into buffer: IOBuffer, count: Int?, rwFlags: Int32,
        deadline: ContinuousClock.Instant?, cancellable: Bool, cacheFirst: Bool = false
    ) throws(IOError) -> ValueRequest<IOBuffer>? {
        let count = count ?? buffer.capacity
        try Handle.check(count: count, capacity: buffer.capacity, offset: offset, operation: "read")
        var alreadyRead = 0
        if cacheFirst, let offset, count > 0 {
            alreadyRead = core.readFromCache(fd, at: offset, into: buffer, count: count, rwFlags: rwFlags)
        }
        if alreadyRead == count {
            buffer.count = count
            return nil
        }
        return ReadRequest(fd: fd, offset: offset, buffer: buffer, count: count, alreadyRead: alreadyRead,
                           rwFlags: rwFlags, deadline: deadline, cancellable: cancellable)
    }

    @usableFromInline
    func writeRequest(
        _ buffers: [IOBuffer], to fd: Int32, at offset: UInt64?, rwFlags: Int32, deadline: ContinuousClock.Instant?,
        cancellable: Bool, thenSync: Bool
    ) throws(IOError) -> ValueRequest<Void>? {
        let total = buffers.reduce(0) { $0 + $1.count }
        try Handle.check(count: total, capacity: total, offset: offset, operation: "write")
        guard total > 0 else { return thenSync ? syncRequest(fd, dataOnly: true, deadline: deadline) : nil }
        return WriteRequest(fd: fd, offset: offset, vectors: IOVectors(buffers), rwFlags: rwFlags, deadline: deadline,
                            cancellable: cancellable, thenSync: thenSync)
    }

    @usableFromInline
    func writeRequest(
        _ buffer: IOBuffer, to fd: Int32, at offset: UInt64?, rwFlags: Int32, deadline: ContinuousClock.Instant?,
        cancellable: Bool, thenSync: Bool
    ) throws(IOError) -> ValueRequest<Void>? {
        try Handle.check(count: buffer.count, capacity: buffer.count, offset: offset, operation: "write")
        guard buffer.count > 0 else { return thenSync ? syncRequest(fd, dataOnly: true, deadline: deadline) : nil }
        return WriteRequest(fd: fd, offset: offset, vectors: IOVectors(buffer), rwFlags: rwFlags, deadline: deadline,
                            cancellable: cancellable, thenSync: thenSync)
    }

    /// `fsync`, or `fdatasync` when `dataOnly` (an empty write asked to
    /// sync still syncs, and a batch's sync is one of these too).
    func syncRequest(_ fd: Int32, dataOnly: Bool, deadline: ContinuousClock.Instant?) -> ValueRequest<Void> {
        DescriptorRequest(dataOnly ? "fdatasync" : "fsync", fd: fd, entry: .fsync(fd: fd, dataOnly: dataOnly), deadline: deadline)
    }

    @usableFromInline
    func sendRequest(
        _ buffers: [IOBuffer], to fd: Int32, deadline: ContinuousClock.Instant?, readyFirst: Bool = false
    ) throws(IOError) -> ValueRequest<Void>? {
        guard buffers.contains(where: { $0.count > 0 }) else { return nil }
        return try sendRequest(IOVectors(buffers), to: fd, deadline: deadline, readyFirst: readyFirst)
    }

    @usableFromInline
    func sendRequest(
        _ buffer: IOBuffer, to fd: Int32, deadline: ContinuousClock.Instant?, readyFirst: Bool = false
    ) throws(IOError) -> ValueRequest<Void>? {
        guard buffer.count > 0 else { return nil }
        return try sendRequest(IOVectors(buffer), to: fd, deadline: deadline, readyFirst: readyFirst)
    }

    /// With `readyFirst`, sends on this thread what the socket has room
    /// for, and returns a request for the rest (nil when all went).
    private func sendRequest(
        _ vectors: consuming IOVectors, to fd: Int32, deadline: ContinuousClock.Instant?, readyFirst: Bool
    ) throws(IOError) -> ValueRequest<Void>? {
        if readyFirst && core.triesSocketsHere {
            let result = vectors.sendReady(on: fd)
            if result < 0 { throw IOError("send", errno: result, context: "fd \(fd)") }
            if vectors.remainingBytes == 0 {
                core.counters.countImmediateSend()
                return nil
            }
        }
        return SendRequest(fd: fd, vectors: vectors, deadline: deadline)
    }

    @usableFromInline
    func receiveRequest(
        from fd: Int32, into buffer: IOBuffer, startingAt start: Int, count: Int?, exact: Bool,
        deadline: ContinuousClock.Instant?, readyFirst: Bool = false
    ) throws(IOError) -> ValueRequest<IOBuffer>? {
        guard start >= 0 && start <= buffer.capacity else {
            throw IOError("recv", .invalidArgument("start \(start) is outside a buffer of \(buffer.capacity)"))
        }
        let count = count ?? buffer.capacity - start
        try Handle.check(count: count, capacity: buffer.capacity - start, offset: nil, operation: "recv")
        if count == 0 {
            buffer.count = start
            return nil
        }
        var received = 0
        if readyFirst && core.triesSocketsHere {
            let ready = try core.receiveReady(fd, into: buffer, at: start, count: count, exact: exact)
            received = ready.received
            if ready.peerClosed && exact && received < count {
                throw IOError("recv", .endOfFile, context: "fd \(fd): peer closed after \(received) of \(count) bytes")
            }
            if ready.peerClosed || received == count || (!exact && received > 0) {
                core.counters.countImmediateReceive()
                buffer.count = start + received
                return nil
            }
        }
        return ReceiveRequest(fd: fd, buffer: buffer, start: start, count: count, exact: exact,
                              alreadyReceived: received, deadline: deadline)
    }
}
