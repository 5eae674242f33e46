// What one run of a workload measured: its latencies and how long it took.

/// What one run measured.
struct Measurement: Sendable {
    var sampler: LatencySampler
    var elapsed: Duration

    var operationsPerSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(sampler.operations) / seconds : 0
    }
}
