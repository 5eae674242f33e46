// Duration <-> integer nanoseconds, saturating: the wheel and the enter
// timeout work in integers, the public API in `Duration`.

extension Duration {
    /// Whole nanoseconds, clamped to 0...Int64.max.
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow || seconds > Int64.max / 1_000_000_000 { return UInt64(Int64.max) }
        return min(scaled + UInt64(attoseconds / 1_000_000_000), UInt64(Int64.max))
    }
}
