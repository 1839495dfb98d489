import Foundation

extension LoadReport {
    /// The human-readable summary `exorec loadgen` prints.
    public func renderText(maxProblems: Int = 10) -> String {
        let mode = "\(self.sampleRate) Hz, \(self.channels == 2 ? "dual" : "mono"), \(self.pace.rawValue)"
        var lines = [
            "exorec loadgen: \(self.streams) streams × \(self.framesPerStream) frames of 100 ms (\(mode)) → \(self.url)",
            Self.row("run id", self.runID),
            Self.row(
                "streams",
                "\(self.streamsOK) ok, \(self.streamsFailed) failed (\(self.handshakeFailures) handshake failures)"
            ),
        ]
        for (reason, count) in self.failures.sorted(by: {
            $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
        }) {
            lines.append(Self.row("", "\(count) × \(reason)"))
        }
        lines += [
            Self.row(
                "frames sent",
                "\(Self.grouped(self.mediaMessages)) media messages, \(Self.megabytes(self.bytesSent))"
            ),
            Self.row("connect time", String(format: "%.2f s", self.connectSeconds)),
            Self.row(
                "stream time",
                String(format: "%.2f s, ", self.streamSeconds)
                    + "\(Self.grouped(Int(self.mediaMessagesPerSecond.rounded()))) frames/s"
            ),
            Self.row(
                "generator CPU",
                String(format: "%.2f s ", self.generatorCPUSeconds)
                    + "(ceiling ≈ \(Self.grouped(Int(self.generatorCeiling.rounded()))) frames per CPU-second)"
            ),
        ]
        if let lag = self.maxLagMilliseconds, let late = self.lateSteps {
            lines.append(
                Self.row(
                    "schedule",
                    String(format: "max lag %.1f ms, ", lag) + "\(Self.grouped(late)) steps ≥ 100 ms late"
                )
            )
        }
        if let verification = self.verification {
            let verdict = verification.isExact ? "sample-exact" : "\(verification.problems.count) with problems"
            lines.append(
                Self.row(
                    "verification",
                    "\(verification.streamsExact)/\(verification.streamsChecked) streams \(verification.isExact ? verdict : "exact, \(verdict)"), \(Self.grouped(verification.samplesVerified)) samples"
                )
            )
            for problem in verification.problems.prefix(maxProblems) { lines.append(Self.row("", problem.description)) }
            if verification.problems.count > maxProblems {
                lines.append(Self.row("", "… and \(verification.problems.count - maxProblems) more (see --json)"))
            }
        } else {
            lines.append(Self.row("verification", "not requested (--verify DIR)"))
        }
        return lines.joined(separator: "\n")
    }

    private static func row(_ label: String, _ value: String) -> String {
        "  " + label.padding(toLength: 14, withPad: " ", startingAt: 0) + value
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    private static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
