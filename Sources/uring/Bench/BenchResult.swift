// One measured (workload, engine) pair, printed as a machine-readable line.

struct BenchResult: Sendable, Encodable {
    var workload: String
    var engine: String
    var concurrency: Int
    var operationsPerSecond: Double
    var p50Microseconds: Double
    var p99Microseconds: Double
    var eventfdPerOperation: Double?
    /// FUTEX_WAKE calls per request: the other doorbell, rung for a loop
    /// asleep with nothing in the kernel (see `Waker`).
    var futexPerOperation: Double?
    var enterPerOperation: Double?
    /// Wake-poll CQEs the loop reaped per request: how often a producer's
    /// eventfd write reached the loop through its ring.
    var wakeCompletionsPerOperation: Double?
    /// Reads per batch (`storage-read --batch`), for our engines when > 1.
    var batch: Int?

    init(workload: Workload, engine: Engine, concurrency: Int, measurement: Measurement) {
        self.workload = workload.rawValue
        self.engine = engine.rawValue
        self.concurrency = concurrency
        operationsPerSecond = measurement.operationsPerSecond
        p50Microseconds = measurement.sampler.percentileMicroseconds(50)
        p99Microseconds = measurement.sampler.percentileMicroseconds(99)
    }

    /// `bench workload=W engine=E conc=C ops_per_s=X p50_us=Y p99_us=Z [...]`
    var line: String {
        var text = "bench workload=\(workload) engine=\(engine) conc=\(concurrency) "
            + "ops_per_s=\(format(operationsPerSecond, 0)) p50_us=\(format(p50Microseconds, 1)) p99_us=\(format(p99Microseconds, 1))"
        if let eventfdPerOperation { text += " eventfd_per_op=\(format(eventfdPerOperation, 4))" }
        if let futexPerOperation { text += " futex_per_op=\(format(futexPerOperation, 4))" }
        if let enterPerOperation { text += " enter_per_op=\(format(enterPerOperation, 4))" }
        if let wakeCompletionsPerOperation { text += " wake_cqe_per_op=\(format(wakeCompletionsPerOperation, 4))" }
        if let batch { text += " batch=\(batch)" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case workload, engine
        case concurrency = "conc"
        case operationsPerSecond = "ops_per_s"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case eventfdPerOperation = "eventfd_per_op"
        case futexPerOperation = "futex_per_op"
        case enterPerOperation = "enter_per_op"
        case wakeCompletionsPerOperation = "wake_cqe_per_op"
        case batch
    }
}

/// `value` with `digits` decimals, without Foundation.
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if digits == 0 { return String(Int64(rounded)) }
    let whole = Int64(rounded.magnitude)
    let fraction = Int64(((rounded.magnitude - Double(whole)) * scale).rounded())
    let fractionText = String(fraction)
    let padded = String(repeating: "0", count: max(0, digits - fractionText.count)) + fractionText
    return (rounded < 0 ? "-" : "") + "\(whole).\(padded)"
}
