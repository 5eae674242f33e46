// Per-SQE flags (IOSQE_*).
import CURing

/// Flags on one submission entry (`IOSQE_*`).
public struct SubmissionFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `fd` is an index into the registered file table.
    // The IOSQE_* masks are macros over enum values, which Swift cannot import.
    private static func bit(_ position: Int) -> UInt8 { 1 << UInt8(position) }

    public static let fixedFile = SubmissionFlags(rawValue: bit(IOSQE_FIXED_FILE_BIT))
    /// Start only after every earlier SQE completed.
    public static let drain = SubmissionFlags(rawValue: bit(IOSQE_IO_DRAIN_BIT))
    /// The next SQE starts only after this one succeeds.
    public static let link = SubmissionFlags(rawValue: bit(IOSQE_IO_LINK_BIT))
    /// Like `link`, but the chain goes on even if this one fails.
    public static let hardLink = SubmissionFlags(rawValue: bit(IOSQE_IO_HARDLINK_BIT))
    /// Always run from an async worker, never inline.
    public static let async = SubmissionFlags(rawValue: bit(IOSQE_ASYNC_BIT))
    /// Pick a buffer from the provided-buffer group in `bufferGroup`.
    public static let bufferSelect = SubmissionFlags(rawValue: bit(IOSQE_BUFFER_SELECT_BIT))
    /// Post no CQE when the operation succeeds.
    public static let skipSuccess = SubmissionFlags(rawValue: bit(IOSQE_CQE_SKIP_SUCCESS_BIT))
}
