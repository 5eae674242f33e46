// Per-task latency recording into an HdrHistogram (nanoseconds), merged at
// the end: no shared state on the measured path, no sorting of samples.
import Histogram

struct LatencySampler: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var operations: UInt64 = 0

    /// Records `count` operations that each took `elapsed` (a batch's
    /// reads all end with the batch).
    mutating func record(_ elapsed: Duration, count: UInt64 = 1) {
        let (seconds, attoseconds) = elapsed.components
        let nanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        _ = histogram.record(min(nanoseconds, 60_000_000_000), count: count)
        operations += count
    }

    mutating func merge(_ other: LatencySampler) {
        histogram.add(other.histogram)
        operations += other.operations
    }

    func percentileMicroseconds(_ percentile: Double) -> Double {
        operations == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }
}
