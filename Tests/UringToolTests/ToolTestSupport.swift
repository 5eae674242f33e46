// Helpers shared by the tool's tests.
import ArgumentParser
import Testing

/// Expects each argument list to be refused by `command`'s parser with a
/// message containing its reason.
func expectRefused<Command: ParsableCommand>(
    _ command: Command.Type, _ cases: [([String], String)], sourceLocation: SourceLocation = #_sourceLocation
) {
    for (arguments, reason) in cases {
        do {
            _ = try command.parse(arguments)
            Issue.record("\(arguments) was accepted", sourceLocation: sourceLocation)
        } catch {
            let message = command.message(for: error)
            #expect(message.contains(reason), "\(arguments): \(message)", sourceLocation: sourceLocation)
        }
    }
}
