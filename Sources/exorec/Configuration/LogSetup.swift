import Logging

/// Structured logs on standard error: one line per event, `key=value` metadata.
enum LogSetup {
    static let levels: [String: Logger.Level] = [
        "trace": .trace, "debug": .debug, "info": .info, "notice": .notice, "warning": .warning, "error": .error,
        "critical": .critical,
    ]
    static let levelNames = "trace, debug, info, notice, warning, error, critical"

    static func makeLogger(label: String, level: String?, quiet: Bool = false) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = quiet ? .warning : (level.flatMap { levels[$0] } ?? .info)
        return logger
    }
}
