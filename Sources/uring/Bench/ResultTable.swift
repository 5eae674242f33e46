// The human-readable summary: one row per result, ratio to our own engine.

enum ResultTable {
    static func render(_ results: [BenchResult]) -> String {
        var rows = [["workload", "engine", "conc", "ops/s", "p50 µs", "p99 µs", "vs uring"]]
        for result in results {
            let ours = results.first { $0.workload == result.workload && $0.engine == Engine.uring.rawValue }
            let ratio = ours.map { $0.operationsPerSecond > 0 ? format(result.operationsPerSecond / $0.operationsPerSecond, 2) + "x" : "-" } ?? "-"
            rows.append([
                result.workload, result.engine, String(result.concurrency),
                format(result.operationsPerSecond, 0), format(result.p50Microseconds, 1),
                format(result.p99Microseconds, 1), ratio,
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column < 2 ? cell.padding(widths[column]) : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension ResultTable {
    /// What each engine in `results` is, in the order they first appear.
    static func legend(_ results: [BenchResult]) -> String {
        var seen: [String] = []
        for result in results where !seen.contains(result.engine) { seen.append(result.engine) }
        let width = seen.map(\.count).max() ?? 0
        return seen.compactMap { name in
            Engine(rawValue: name).map { name.padding(width) + "  " + $0.summary }
        }.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - count))
    }
}
