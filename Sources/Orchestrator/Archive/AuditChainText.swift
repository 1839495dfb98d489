import Catalog

/// How `exorec audit` prints the audit log and its check.
public enum AuditChainText {
    /// The check's outcome: a verdict, the head to keep as an anchor, then each problem.
    public static func lines(_ report: AuditChainReport) -> [String] {
        var lines = [
            report.isIntact
                ? "audit log intact: \(report.entries) entries"
                : "audit log NOT intact: \(report.entries) entries, \(report.problems.count) problems"
        ]
        if let head = report.head {
            lines.append("head: \(head.text)")
            if report.isIntact {
                lines.append(
                    "(keep this head elsewhere; pass it as --anchor \(head.text) to catch truncation or a rewritten chain)"
                )
            } else {
                // A broken chain's head proves nothing: anchoring it would bless the damage.
                lines.append("(do not keep this head as an anchor: the chain is broken; keep the anchor you had)")
            }
        } else {
            lines.append("head: none (the log is empty)")
        }
        lines += report.problems.map { "problem: \($0)" }
        return lines
    }

    /// One entry on one line: seq, time, actor, action, call, path, detail.
    public static func line(_ entry: AuditEntry) -> String {
        var parts = ["\(entry.seq)", "\(entry.at)", entry.actor, entry.action]
        if let callSid = entry.callSid { parts.append("call=\(callSid)") }
        if let path = entry.path { parts.append("path=\(path)") }
        if entry.detail != "{}" { parts.append(entry.detail) }
        return parts.joined(separator: "  ")
    }
}
