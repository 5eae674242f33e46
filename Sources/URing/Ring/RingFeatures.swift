// What the running kernel's io_uring offers (IORING_FEAT_*), reported by setup.
import CURing

/// Features the kernel reported when the ring was created (`IORING_FEAT_*`).
public struct RingFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let singleMmap = RingFeatures(rawValue: IORING_FEAT_SINGLE_MMAP)
    public static let noDrop = RingFeatures(rawValue: IORING_FEAT_NODROP)
    public static let submitStable = RingFeatures(rawValue: IORING_FEAT_SUBMIT_STABLE)
    public static let readWriteCurrentPosition = RingFeatures(rawValue: IORING_FEAT_RW_CUR_POS)
    public static let currentPersonality = RingFeatures(rawValue: IORING_FEAT_CUR_PERSONALITY)
    public static let fastPoll = RingFeatures(rawValue: IORING_FEAT_FAST_POLL)
    public static let poll32Bits = RingFeatures(rawValue: IORING_FEAT_POLL_32BITS)
    public static let submissionPollNonFixed = RingFeatures(rawValue: IORING_FEAT_SQPOLL_NONFIXED)
    public static let extendedArgument = RingFeatures(rawValue: IORING_FEAT_EXT_ARG)
    public static let nativeWorkers = RingFeatures(rawValue: IORING_FEAT_NATIVE_WORKERS)
    public static let resourceTags = RingFeatures(rawValue: IORING_FEAT_RSRC_TAGS)
    public static let completionSkip = RingFeatures(rawValue: IORING_FEAT_CQE_SKIP)
    public static let linkedFile = RingFeatures(rawValue: IORING_FEAT_LINKED_FILE)
    public static let registerRegisteredRing = RingFeatures(rawValue: IORING_FEAT_REG_REG_RING)
    public static let sendReceiveBundle = RingFeatures(rawValue: IORING_FEAT_RECVSEND_BUNDLE)
    public static let minimumTimeout = RingFeatures(rawValue: IORING_FEAT_MIN_TIMEOUT)
    public static let readWriteAttributes = RingFeatures(rawValue: IORING_FEAT_RW_ATTR)
    public static let noIOWait = RingFeatures(rawValue: IORING_FEAT_NO_IOWAIT)

    static let names: [(RingFeatures, String)] = [
        (.singleMmap, "SINGLE_MMAP"), (.noDrop, "NODROP"), (.submitStable, "SUBMIT_STABLE"),
        (.readWriteCurrentPosition, "RW_CUR_POS"), (.currentPersonality, "CUR_PERSONALITY"),
        (.fastPoll, "FAST_POLL"), (.poll32Bits, "POLL_32BITS"),
        (.submissionPollNonFixed, "SQPOLL_NONFIXED"), (.extendedArgument, "EXT_ARG"),
        (.nativeWorkers, "NATIVE_WORKERS"), (.resourceTags, "RSRC_TAGS"),
        (.completionSkip, "CQE_SKIP"), (.linkedFile, "LINKED_FILE"),
        (.registerRegisteredRing, "REG_REG_RING"), (.sendReceiveBundle, "RECVSEND_BUNDLE"),
        (.minimumTimeout, "MIN_TIMEOUT"), (.readWriteAttributes, "RW_ATTR"),
        (.noIOWait, "NO_IOWAIT"),
    ]

    /// The `IORING_FEAT_*` names of the features present, space separated.
    public var description: String {
        var parts = RingFeatures.names.filter { contains($0.0) }.map(\.1)
        let known = RingFeatures.names.reduce(into: RingFeatures()) { $0.insert($1.0) }
        let unknown = rawValue & ~known.rawValue
        if unknown != 0 { parts.append("0x" + String(unknown, radix: 16)) }
        return parts.joined(separator: " ")
    }
}
