import Logging
import Synchronization

/// Every record a logger made, for asserting what was logged (and what was not).
///
/// ```swift
/// let logs = CapturedLogs()
/// try await withTestIngest(logger: logs.logger) { … }
/// #expect(logs.all.contains { $0.message == "refused stream upgrade" })
/// ```
public final class CapturedLogs: Sendable {
    public struct Record: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
        /// The message and metadata in one line, as a log reader would see them.
        public var line: String {
            "\(self.message) \(self.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        }
    }

    private let records = Mutex<[Record]>([])

    public init() {}

    public var all: [Record] { self.records.withLock { $0 } }
    func append(_ record: Record) { self.records.withLock { $0.append(record) } }

    /// A logger at `trace` whose records land here.
    public var logger: Logger {
        var logger = Logger(label: "exorec.test.captured") { _ in CapturingHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    /// A new capture and its logger, for the common `let (logger, logs) = CapturedLogs.logger()`.
    public static func logger() -> (Logger, CapturedLogs) {
        let logs = CapturedLogs()
        return (logs.logger, logs)
    }

    struct CapturingHandler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.sink.append(
                Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" })
            )
        }
    }
}
