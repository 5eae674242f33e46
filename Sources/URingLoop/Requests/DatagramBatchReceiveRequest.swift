// recvmsg into several buffers, one datagram each, with one resume of the
// caller: the first receive waits for a datagram as `receiveDatagram` does;
// the rest are submitted with MSG_DONTWAIT, one after another from the loop
// thread, and the first `-EAGAIN` (the socket has nothing more for now)
// ends the batch. So a server that was away while datagrams queued up takes
// all of them (up to its buffers) for one trip to the loop and back.
//
// Once it holds a datagram the request never throws it away: an error,
// a datagram too long for its buffer, a deadline or a cancel ends the batch
// with what it has (an error other than a cancel's rides along as the
// trailing error).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

final class DatagramBatchReceiveRequest: ValueRequest<ReceivedDatagrams>, @unchecked Sendable {
    let fd: Int32
    /// Kept alive while the kernel writes into them.
    private let buffers: [IOBuffer]
    private var header: DatagramHeader
    private var senders: [SocketAddress] = []

    /// `buffers` must not be empty.
    init(fd: Int32, buffers: [IOBuffer], deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.buffers = buffers
        header = DatagramHeader(base: buffers[0].base, count: buffers[0].capacity, address: nil, forReceive: true)
        super.init(operation: "recvmsg", deadline: deadline)
    }

    override func makeEntry() -> SubmissionEntry {
        let buffer = buffers[senders.count]
        header.retarget(base: buffer.base, count: buffer.capacity)
        let flags = senders.isEmpty ? Int32(MSG_TRUNC) : Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT)
        return .recvmsg(fd: fd, message: header.message(resettingForReceive: true), flags: flags)
    }

    override func retryStep(after result: Int32) -> CompletionStep {
        // Nothing more queued: the batch is what it has.
        guard result == -EAGAIN, !senders.isEmpty else { return .again }
        succeed(ReceivedDatagrams(senders: senders))
        return .finished
    }

    override func end(cancelledFor reason: CancelReason) {
        if senders.isEmpty { super.end(cancelledFor: reason) } else { succeed(ReceivedDatagrams(senders: senders)) }
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        let buffer = buffers[senders.count]
        switch header.receivedLength(result, capacity: buffer.capacity, fd: fd, operation: operation) {
        case .failure(let error):
            if senders.isEmpty { fail(error) } else { succeed(ReceivedDatagrams(senders: senders, trailingError: error)) }
            return .finished
        case .success(let length):
            buffer.count = length
        }
        let sender = header.sender
        senders.append(sender)
        // A shut-down socket answers with nothing from nobody, at once and
        // for good: no point asking again. Else go on while buffers remain.
        guard senders.count < buffers.count, result > 0 || sender.length > 0 else {
            succeed(ReceivedDatagrams(senders: senders))
            return .finished
        }
        return .again
    }
}
