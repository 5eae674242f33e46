// What /proc says about a process: its descriptors, children and state.
import Glibc

/// The open descriptors of `pid` (this process when nil) and what each
/// refers to, as "fd->target" from `/proc/<pid>/fd` (without the directory
/// stream used to list them).
public func openDescriptors(ofProcess pid: pid_t? = nil) -> [String] {
    let path = "/proc/" + (pid.map { "\($0)" } ?? "self") + "/fd"
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    let own = pid == nil ? dirfd(directory) : -1
    var targets: [String] = []
    var target = [CChar](repeating: 0, count: 512)
    for name in entryNames(directory) where Int32(name) != own {
        let length = readlink(path + "/" + name, &target, target.count - 1)
        targets.append("\(name)->" + (length > 0 ? String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"))
    }
    return targets
}

/// The pids whose parent is `parent`.
public func children(of parent: pid_t) -> [pid_t] {
    guard let directory = opendir("/proc") else { return [] }
    defer { closedir(directory) }
    return entryNames(directory).compactMap { pid_t($0) }.filter { pid in
        guard let fields = statFields(of: pid), fields.count > 1 else { return false }
        return pid_t(fields[1]) == parent
    }
}

/// Whether `pid` exists and has not exited (a zombie has).
public func isRunning(_ pid: pid_t) -> Bool {
    guard pid > 0, let state = statFields(of: pid)?.first else { return false }
    return state != "Z" && state != "X"
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid...
private func statFields(of pid: pid_t) -> [Substring]? {
    guard let text = readReport("/proc/\(pid)/stat"), let end = text.lastIndex(of: ")") else { return nil }
    return text[text.index(after: end)...].split(separator: " ")
}

/// The entries of an open directory stream, without "." and "..".
private func entryNames(_ directory: OpaquePointer) -> [String] {
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
