// A one-line progress note on stderr, only when stderr is a terminal.
import Glibc

enum Progress {
    private static let enabled = isatty(STDERR_FILENO) == 1

    static func show(_ text: String) {
        guard enabled else { return }
        writeError("\r\u{1B}[K… \(text)")
    }

    static func clear() {
        guard enabled else { return }
        writeError("\r\u{1B}[K")
    }
}

/// Writes `text` to standard error (fd 2) without touching the C `stderr` global.
func writeError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// Writes `text` to standard output (fd 1) at once, unbuffered.
func writeOutput(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(STDOUT_FILENO, bytes.baseAddress, bytes.count) }
}
