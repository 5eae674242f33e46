// A blob against a model: random writes (every durability, vectored, in
// batches, past the end to leave a hole), reads (cached and uncached, into new memory, into
// a caller's buffer and in batches, some past the end), resizes both ways,
// reserved and discarded space, and length queries, each checked against
// an array that holds what the blob should.
// At the end the blob is read back by a new Storage on the same directory.
//
// A second test has many tasks write and read their own regions of one
// blob at once: the model per region, then the whole blob at the end.
//
// Seeds are fixed (a failure names its seed and step) plus one fresh each
// run.
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct BlobModelTests {
    static let seeds: [UInt64] = [1, 2, 0xB10B, UInt64.random(in: 3...UInt64.max)]

    /// The `dropFromCache` write options stay out of the direct variant:
    /// they change nothing there.
    static func writeOptions(direct: Bool, using generator: inout SeededGenerator) -> WriteOptions {
        let durability: WriteOptions.Durability = [.buffered, .dataSync, .writeThenSync].randomElement(using: &generator)!
        return WriteOptions(durability: durability, dropFromCache: !direct && Bool.random(using: &generator))
    }

    @Test(arguments: seeds, [false, true])
    func aBlobHoldsWhatTheModelHolds(seed: UInt64, direct: Bool) async throws {
        let root = try temporaryDirectory("uring-blob-model")
        defer { removeTree(root) }
        // Direct I/O moves whole 4096-byte blocks from aligned memory; the
        // buffered variant any size at any offset.
        let unit = direct ? 4096 : 1
        let alignment = direct ? 4096 : 16
        var generator = SeededGenerator(seed: seed)
        var model: [UInt8] = []
        do {
            let storage = try Storage(directory: root)
            let (blob, length, _) = try await storage.open(partition: "model", name: [1], direct: direct)
            #expect(length == 0)
            for step in 1...(underThreadSanitizer ? 50 : 150) {  // ThreadSanitizer runs many times slower
                let context: Comment = "seed \(seed), direct \(direct), step \(step), length \(model.count)"
                switch Int.random(in: 0..<10, using: &generator) {
                case 3 where Bool.random(using: &generator):
                    // A batch of writes at disjoint places (slots of `slot`
                    // bytes, up to a little past the end), all at once.
                    let slot = direct ? 4096 : 512
                    let slots = (0...(model.count / slot + 4)).shuffled(using: &generator).prefix(Int.random(in: 1...6, using: &generator))
                    var batch: [(offset: UInt64, buffers: [IOBuffer])] = []
                    for index in slots {
                        let size = direct ? slot : Int.random(in: 1...slot, using: &generator)
                        let bytes = generator.bytes(size)
                        batch.append((UInt64(index * slot), Self.split(bytes, unit: unit, alignment: alignment, using: &generator)))
                    }
                    try await blob.write(batch: batch, options: Self.writeOptions(direct: direct, using: &generator))
                    for (offset, buffers) in batch {
                        let bytes = buffers.flatMap(\.bytes)
                        let start = Int(offset)
                        if start + bytes.count > model.count { model += [UInt8](repeating: 0, count: start + bytes.count - model.count) }
                        model.replaceSubrange(start..<(start + bytes.count), with: bytes)
                    }
                case 0..<4:
                    // A write anywhere up to a little past the end (a hole
                    // reads as zeros), in one buffer or several.
                    let offset = Int.random(in: 0...(model.count / unit + 2), using: &generator) * unit
                    let size = Int.random(in: 0...(direct ? 6 : 12_000), using: &generator) * unit
                    let bytes = generator.bytes(size)
                    let options = Self.writeOptions(direct: direct, using: &generator)
                    if Bool.random(using: &generator) {
                        try await blob.write(bytes, at: UInt64(offset), options: options)
                    } else {
                        let parts = Self.split(bytes, unit: unit, alignment: alignment, using: &generator)
                        try await blob.write(parts, at: UInt64(offset), options: options)
                    }
                    // An empty write moves nothing, so extends nothing.
                    guard size > 0 else { continue }
                    if offset + size > model.count { model += [UInt8](repeating: 0, count: offset + size - model.count) }
                    model.replaceSubrange(offset..<(offset + size), with: bytes)
                case 4..<7:
                    // A read inside the blob: new memory or a caller's
                    // buffer, cached or not.
                    guard model.count > 0 else { continue }
                    let offset = Int.random(in: 0..<(model.count / unit), using: &generator) * unit
                    let size = Int.random(in: 1...((model.count - offset) / unit), using: &generator) * unit
                    let options: ReadOptions = Bool.random(using: &generator) ? .cached : .uncached
                    let bytes: [UInt8]
                    if Bool.random(using: &generator) {
                        bytes = try await blob.read(at: UInt64(offset), count: size, options: options)
                    } else {
                        let buffer = IOBuffer(capacity: size + unit * Int.random(in: 0...2, using: &generator), alignment: alignment)
                        let filled = try await blob.read(at: UInt64(offset), into: buffer, count: size, options: options)
                        #expect(filled === buffer && buffer.count == size, context)
                        bytes = buffer.bytes
                    }
                    let mismatch = firstDifference(bytes, model[offset..<(offset + size)])
                    try #require(mismatch == nil, "\(context): read of \(size) at \(offset) differs at +\(mismatch ?? 0)")
                case 7 where Bool.random(using: &generator):
                    // A batch of reads inside the blob, all at once.
                    guard model.count > 0 else { continue }
                    let reads = (0..<Int.random(in: 1...12, using: &generator)).map { _ -> (offset: UInt64, buffer: IOBuffer) in
                        let offset = Int.random(in: 0..<(model.count / unit), using: &generator) * unit
                        let size = Int.random(in: 1...min(8, (model.count - offset) / unit), using: &generator) * unit
                        return (UInt64(offset), IOBuffer(capacity: size, alignment: alignment))
                    }
                    let options: ReadOptions = Bool.random(using: &generator) ? .cached : .uncached
                    let filled = try await blob.read(batch: reads, options: options)
                    for (element, (read, buffer)) in zip(reads, filled).enumerated() {
                        let offset = Int(read.offset)
                        let mismatch = firstDifference(buffer.bytes, model[offset..<(offset + read.buffer.capacity)])
                        try #require(buffer === read.buffer && mismatch == nil,
                                     "\(context): batch element \(element) at \(offset) differs at +\(mismatch ?? 0)")
                    }
                case 7:
                    // A read that runs past the end.
                    let offset = Int.random(in: 0...(model.count / unit), using: &generator) * unit
                    let size = model.count - offset + unit * Int.random(in: 1...3, using: &generator)
                    await expectIOError(.endOfFile) { _ = try await blob.read(at: UInt64(offset), count: size) }
                case 8 where Bool.random(using: &generator):
                    // Space held ahead of the end (the length stays), or
                    // given back from anywhere, past the end too (the range
                    // reads as zeros; the length stays). Any offset and
                    // count, on a direct blob too.
                    let offset = Int.random(in: 0...(model.count + 3 * 4096), using: &generator)
                    if Bool.random(using: &generator) {
                        try await blob.reserve(upTo: UInt64(offset))
                    } else {
                        let count = Int.random(in: 0...(model.count + 2), using: &generator)
                        try await blob.discard(at: UInt64(offset), count: UInt64(count))
                        if offset < model.count {
                            let end = min(offset + count, model.count)
                            model.replaceSubrange(offset..<end, with: [UInt8](repeating: 0, count: end - offset))
                        }
                    }
                case 8:
                    let length = Int.random(in: 0...(model.count / unit + 3), using: &generator) * unit
                    try await blob.resize(to: UInt64(length))
                    if length < model.count {
                        model.removeLast(model.count - length)
                    } else {
                        model += [UInt8](repeating: 0, count: length - model.count)
                    }
                default:
                    try #require(try blob.length() == UInt64(model.count), context)
                    try await blob.sync(dataOnly: Bool.random(using: &generator))
                }
            }
            try await blob.sync()
            await storage.shutdown()
        }
        // What a new Storage finds on the same directory.
        let storage = try Storage(directory: root)
        let (blob, length, _) = try await storage.open(partition: "model", name: [1], direct: direct)
        #expect(length == UInt64(model.count), "seed \(seed), direct \(direct)")
        if model.count > 0 {
            let all = try await blob.read(at: 0, count: model.count)
            #expect(firstDifference(all, model) == nil, "seed \(seed), direct \(direct)")
        }
        await storage.shutdown()
    }

    /// `bytes` in up to four buffers (some may be empty); for direct I/O
    /// each a whole number of blocks.
    static func split(_ bytes: [UInt8], unit: Int, alignment: Int, using generator: inout SeededGenerator) -> [IOBuffer] {
        var parts: [IOBuffer] = []
        var start = 0
        for _ in 0..<Int.random(in: 1...4, using: &generator) where start < bytes.count || parts.isEmpty {
            let end = Int.random(in: (start / unit)...(bytes.count / unit), using: &generator) * unit
            parts.append(IOBuffer(bytes: Array(bytes[start..<end]), alignment: alignment))
            start = end
        }
        if start < bytes.count { parts.append(IOBuffer(bytes: Array(bytes[start...]), alignment: alignment)) }
        return parts
    }

    @Test(arguments: seeds.suffix(2))
    func tasksWritingTheirOwnRegionsAtOnceLoseNothing(seed: UInt64) async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "shared", name: [2])
            let tasks = 8
            let region = 64 * 1024
            let regions = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var generator = SeededGenerator(seed: seed &+ UInt64(task))
                        var model = [UInt8](repeating: 0, count: region)
                        let base = task * region
                        for step in 1...(underThreadSanitizer ? 10 : 30) {
                            let offset = Int.random(in: 0..<region, using: &generator)
                            let size = Int.random(in: 0...(region - offset), using: &generator)
                            if Bool.random(using: &generator) {
                                let bytes = generator.bytes(size, nonZero: true)
                                // Durable writes now and then: each waits for the disk.
                                let options = Int.random(in: 0..<8, using: &generator) == 0
                                    ? Self.writeOptions(direct: false, using: &generator) : .buffered
                                try await blob.write(bytes, at: UInt64(base + offset), options: options)
                                model.replaceSubrange(offset..<(offset + size), with: bytes)
                            } else if try blob.length() >= UInt64(base + offset + size) {
                                // Only what this task wrote, or zeros: another
                                // task's writes may have extended the blob.
                                let bytes = try await blob.read(at: UInt64(base + offset), count: size)
                                let mismatch = firstDifference(bytes, model[offset..<(offset + size)])
                                try #require(mismatch == nil, "seed \(seed), task \(task), step \(step): read differs at +\(mismatch ?? 0)")
                            }
                        }
                        return (task, model)
                    }
                }
                var regions = [[UInt8]](repeating: [], count: tasks)
                for try await (task, model) in group { regions[task] = model }
                return regions
            }
            // Each region ends with its last write, or zeros where it wrote
            // nothing; the blob ends at the end of the last byte written.
            let expected = Array(regions.joined())
            let length = Int(try blob.length())
            #expect(length <= expected.count)
            #expect(expected[length...].allSatisfy { $0 == 0 }, "bytes written past the blob's end, seed \(seed)")
            let all = try await blob.read(at: 0, count: length)
            #expect(firstDifference(all, expected[..<length]) == nil, "seed \(seed)")
        }
    }
}
