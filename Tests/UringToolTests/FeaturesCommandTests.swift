// `uring features`: the report lists every opcode once, with this
// kernel's answer for each.
import Testing
import URing
@testable import uring

@Suite struct FeaturesCommandTests {
    @Test func theReportNamesEveryOpcodeOnceAndThisKernelsAnswer() throws {
        let lines = try FeaturesCommand.report(Ring(entries: 8))
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("features: ") && lines[0].contains("SINGLE_MMAP"), "\(lines[0])")
        let answers = lines[2].dropFirst("opcodes: ".count).split(separator: " ").map { $0.split(separator: "=") }
        #expect(answers.map { String($0[0]) } == FeaturesCommand.opcodes.map(\.1))
        #expect(answers.allSatisfy { $0.count == 2 && ($0[1] == "yes" || $0[1] == "no") })
        // Every kernel with io_uring has NOP; one with 62 opcodes has RENAMEAT (35).
        #expect(lines[2].contains("NOP=yes"))
        let last = try #require(Int(lines[1].dropFirst("last opcode: ".count)))
        #expect(lines[2].contains("RENAMEAT=\(last > 35 ? "yes" : "no")"))
    }
}
