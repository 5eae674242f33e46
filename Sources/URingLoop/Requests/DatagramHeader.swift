// The msghdr of one datagram's sendmsg or recvmsg, with its single iovec and
// its address, in one allocation: the kernel reads (and for a receive,
// writes) all three while the SQE is in flight, so the request that holds
// this keeps them at a fixed address until its last CQE.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

struct DatagramHeader: ~Copyable {
    private struct Layout {
        var message = msghdr()
        var vector = iovec()
        var address = sockaddr_storage()
    }

    private let layout: UnsafeMutablePointer<Layout>

    /// A header over `count` bytes at `base`, addressed to `address` (a
    /// send) or with room for the sender's address (a receive, `address`
    /// nil). A connected socket's send leaves the address out.
    init(base: UnsafeMutableRawPointer, count: Int, address: SocketAddress?, forReceive: Bool) {
        layout = .allocate(capacity: 1)
        layout.initialize(to: Layout())
        let raw = UnsafeMutableRawPointer(layout)
        let vector = (raw + MemoryLayout<Layout>.offset(of: \.vector)!).assumingMemoryBound(to: iovec.self)
        let name = raw + MemoryLayout<Layout>.offset(of: \.address)!
        vector.pointee = iovec(iov_base: base, iov_len: count)
        layout.pointee.message.msg_iov = vector
        layout.pointee.message.msg_iovlen = 1
        if let address {
            layout.pointee.address = address.storage
            layout.pointee.message.msg_name = name
            layout.pointee.message.msg_namelen = address.length
        } else if forReceive {
            layout.pointee.message.msg_name = name
        }
    }

    deinit { layout.deallocate() }

    /// Points the header's one iovec at `count` bytes at `base` (the next
    /// buffer of a batch of receives).
    mutating func retarget(base: UnsafeMutableRawPointer, count: Int) {
        let vector = (UnsafeMutableRawPointer(layout) + MemoryLayout<Layout>.offset(of: \.vector)!)
            .assumingMemoryBound(to: iovec.self)
        vector.pointee = iovec(iov_base: base, iov_len: count)
    }

    /// The msghdr to submit. For a receive, the room for the sender's
    /// address is reset first: the kernel shrinks `msg_namelen` to what it
    /// wrote, and `msg_flags` is its output alone.
    mutating func message(resettingForReceive: Bool) -> UnsafeMutablePointer<msghdr> {
        let message = (UnsafeMutableRawPointer(layout) + MemoryLayout<Layout>.offset(of: \.message)!)
            .assumingMemoryBound(to: msghdr.self)
        if resettingForReceive {
            message.pointee.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            message.pointee.msg_flags = 0
        }
        return message
    }

    /// After a receive: the sender's address as the kernel wrote it (an
    /// empty one, family `AF_UNSPEC`, when it wrote none).
    var sender: SocketAddress {
        SocketAddress(storage: layout.pointee.address, length: min(layout.pointee.message.msg_namelen,
                                                                     socklen_t(MemoryLayout<sockaddr_storage>.size)))
    }

    /// After a recvmsg with MSG_TRUNC into `capacity` bytes on `fd`: the
    /// datagram's length, or why there is none (the kernel's errno, or
    /// `EMSGSIZE` naming both sizes and the sender for a datagram longer
    /// than the buffer, which the kernel dropped).
    func receivedLength(_ result: Int32, capacity: Int, fd: Int32, operation: String) -> Result<Int, IOError> {
        if result < 0 { return .failure(IOError(operation, errno: result, context: "fd \(fd)")) }
        let truncated = layout.pointee.message.msg_flags & Int32(MSG_TRUNC) != 0
        guard Int(result) > capacity || truncated else { return .success(Int(result)) }
        let length = Int(result) > capacity ? "\(result) bytes" : "more than \(capacity) bytes"
        return .failure(IOError(operation, .errno(EMSGSIZE), context:
            "fd \(fd): a datagram of \(length) from \(sender) did not fit a buffer of \(capacity) and was dropped"))
    }
}
