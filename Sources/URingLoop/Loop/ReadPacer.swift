// When the loop hands file reads to the kernel two at a time instead of in
// one batch.
//
// An `io_uring_enter` that submits more than two entries plugs the block
// layer: the reads it carries reach the device together, as one batch, when
// the call ends. On this project's machines (virtio disks) a device serves
// such batches markedly slower than the same reads arriving one or two at a
// time, and the loop's batches feed on themselves: 32 tasks reading at random
// settle into one convoy of 32 reads, submitted together, completed together,
// resumed together (fio shows the same: 62k reads/s when it submits and
// reaps in batches of 16, 76k when it submits each read at once). Splitting
// the convoy into pairs, which the kernel does not plug, raised O_DIRECT
// random reads by about 18%, from ordinary tasks and from tasks on the loops
// alike (BENCHMARKS.md).
//
// Pairs cost a system call per two reads, which a page-cache hit (done
// inside the call, in under a microsecond) cannot afford: there, batching is
// the whole gain. So the loop learns which kind of reads it serves. An enter
// that carries reads is made without GETEVENTS, so the completion queue
// afterwards grows only by what completed inside that call: growth means
// the reads were served from memory, none means they went to a device (or
// wait on a pipe or socket, where pairs cost only the extra calls). Pairs
// start after `startAt` such device-bound enters in a row and stop after one
// that completed inline, so any mixture with cache hits keeps the kernel's
// batching.
//
// Loop-thread only.
import URing

struct ReadPacer {
    /// Device-bound enters in a row before the loop submits reads in pairs.
    static let startAt = 4

    /// Whether the loop is learning at all (`LoopConfiguration.pacesDeviceReads`).
    let isEnabled: Bool
    /// Enters in a row that carried reads and completed none inline, up to
    /// `startAt`.
    private var evidence = 0
    /// Reads pushed to the SQ since the last enter.
    private(set) var readsStaged = 0

    init(enabled: Bool) {
        isEnabled = enabled
    }

    /// Whether reads go to the kernel in pairs now.
    var isPacing: Bool { isEnabled && evidence >= ReadPacer.startAt }

    /// Whether `opcode` is a file read the block layer may plug.
    static func isRead(_ opcode: Opcode) -> Bool {
        opcode == .read || opcode == .readv || opcode == .readFixed
    }

    /// Before pushing a read onto an SQ holding `staged` unsubmitted
    /// entries: whether to submit those first, so no enter carries two
    /// reads among more than two entries.
    func submitsBeforeRead(staged: Int) -> Bool {
        isPacing && readsStaged >= 1 && staged >= 2
    }

    /// After pushing a read: whether to submit the pair now rather than
    /// wait for the pass to end.
    mutating func pushedRead() -> Bool {
        readsStaged += 1
        return isPacing && readsStaged >= 2
    }

    /// Whether the next enter should leave out GETEVENTS, so that what it
    /// completes inline can be told apart from earlier device completions.
    var measuresNextEnter: Bool { isEnabled && readsStaged > 0 }

    /// After every enter (the staged reads went with it). For one made with
    /// `measuresNextEnter` that submitted something, `completedInline` is
    /// whether the completion queue grew during the call; nil otherwise.
    mutating func entered(completedInline: Bool? = nil) {
        if let completedInline {
            evidence = completedInline ? 0 : min(evidence + 1, ReadPacer.startAt)
        }
        readsStaged = 0
    }
}
