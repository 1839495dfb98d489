import Catalog
import Crypto
import ExotelKit
import Foundation
import Logging
import MediaStore
import SQLiteKit
import Testing

let testLogger = Logger(label: "exorec.catalog.tests")

/// A fixed instant so that every time in a test is predictable.
let t0 = Timestamp(millisecondsSinceEpoch: 1_763_900_000_000)

func at(_ seconds: Int64) -> Timestamp {
    Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + seconds * 1000)
}

func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
}

/// A new, empty directory, removed after `body`.
@discardableResult
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let path = NSTemporaryDirectory() + "exorec-catalog-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// A migrated catalog, closed after `body`: an SQLite file in a temporary directory, or a fresh schema of the
/// test PostgreSQL server (``TestPostgres``), dropped afterwards. `body` gets the catalog and its path or URL.
@discardableResult
func withTestCatalog<R: Sendable>(
    _ backend: CatalogTestBackend = .sqlite,
    _ body: (Catalog, String) async throws -> R
) async throws -> R {
    try await withTestCatalogLocation(backend) { path async throws in
        try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
            try await body(catalog, path)
        }
    }
}

/// An empty place for a catalog, removed after `body`: `<temporary directory>/catalog.sqlite`, or the URL of a
/// new schema on the test PostgreSQL server.
@discardableResult
func withTestCatalogLocation<R>(
    _ backend: CatalogTestBackend,
    _ body: (String) async throws -> R
) async throws -> R {
    switch backend {
    case .sqlite:
        return try await withTemporaryDirectory { directory in try await body("\(directory)/catalog.sqlite") }
    case .postgres:
        return try await TestPostgres.withSchema(body)
    }
}

/// `DROP TRIGGER` in the dialect of the catalog at `path` (PostgreSQL's triggers belong to their table).
func dropTrigger(_ name: String, on table: String, _ path: String) -> String {
    CatalogLocation.isPostgresURL(path) ? "DROP TRIGGER \(name) ON \(table)" : "DROP TRIGGER \(name)"
}

/// SQL run on its own connection, as someone with access to the database would: no exorec code involved.
/// `path` is an SQLite file or a PostgreSQL URL from ``withTestCatalog(_:_:)``; values come back as text
/// (booleans as 1/0, as SQLite stores them).
func rawSQL(_ path: String, _ statements: String...) async throws -> [[String: String]] {
    if CatalogLocation.isPostgresURL(path) { return try await TestPostgres.run(url: path, statements) }
    let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: testLogger)
    var rows: [[String: String]] = []
    do {
        _ = try await connection.query("PRAGMA busy_timeout = 5000")
        for statement in statements {
            for row in try await connection.query(statement) {
                var values: [String: String] = [:]
                for column in row.columns {
                    switch column.data {
                    case .text(let text): values[column.name] = text
                    case .integer(let value): values[column.name] = String(value)
                    case .float(let value): values[column.name] = String(value)
                    case .null: values[column.name] = "NULL"
                    case .blob(let bytes): values[column.name] = "<\(bytes.readableBytes) bytes>"
                    }
                }
                rows.append(values)
            }
        }
    } catch {
        try? await connection.close()
        throw error
    }
    try await connection.close()
    return rows
}

enum Fixture {
    static let account = "acme"

    static func request(customField: String = "order_12345") -> ConnectCallRequest {
        var request = ConnectCallRequest(
            from: "09876543210",
            callerId: "08047112233",
            destination: .number("09123456789")
        )
        request.record = true
        request.recordingChannels = .dual
        request.recordingFormat = .mp3
        request.customField = customField
        request.streamURL = "wss://ingest:s3cret@media.example/v1/streams?sample-rate=8000&token=abc"
        request.streamBegin = .leg1Connect
        request.statusCallback = "https://hooks.example/exotel?secret=hush&x=1"
        request.statusCallbackEvents = [.terminal, .answered]
        request.statusCallbackContentType = .json
        return request
    }

    static func response(sid: String, status: String = "in-progress") -> PlatformCall {
        var call = PlatformCall(sid: sid, status: status)
        call.accountSid = account
        call.from = "09876543210"
        call.to = "09123456789"
        call.phoneNumberSid = "08047112233"
        call.dateCreated = "2025-11-23 12:13:20"
        call.dateUpdated = "2025-11-23 12:13:20"
        call.direction = "outbound-api"
        call.uri = "/v1/Accounts/acme/Calls/\(sid).json"
        return call
    }

    static func placed(
        sid: String,
        at time: Timestamp = t0,
        customField: String = "order_12345",
        campaign: String? = nil
    ) -> PlacedCall {
        PlacedCall(
            request: request(customField: customField),
            response: response(sid: sid),
            accountSid: account,
            placedAt: time,
            campaignId: campaign,
            campaignRowKey: campaign.map { _ in "row-\(sid)" }
        )
    }

    static func callback(
        sid: String,
        event: String? = "terminal",
        status: String = "completed",
        dateUpdated: String = "2025-11-23 12:18:45",
        recordingURL: String? = "https://recordings.example/acme/CA1.mp3",
        legs: [String?] = ["completed", "completed"]
    ) -> StatusCallback {
        var callback = StatusCallback(callSid: sid)
        callback.eventType = event
        callback.status = status
        callback.dateCreated = "2025-11-23 12:13:20"
        callback.dateUpdated = dateUpdated
        callback.from = "09876543210"
        callback.to = "09123456789"
        callback.conversationDuration = status == "completed" ? 320 : nil
        callback.customField = "order_12345"
        callback.recordingURL = recordingURL
        callback.direction = "outbound-api"
        callback.legs = legs.map {
            StatusCallback.Leg(onCallDuration: $0 == "completed" ? 300 : nil, status: $0, answeredBy: "Human")
        }
        return callback
    }

    static func received(
        _ callback: StatusCallback,
        as type: CallbackContentType = .json,
        at time: Timestamp
    ) -> ReceivedCallback {
        let (contentType, body) = callback.encoded(as: type)
        return ReceivedCallback(receivedAt: time, contentType: contentType, body: body, sourceAddress: "203.0.113.7")
    }

    static func streamSidecar(
        callSid: String,
        streamSid: String,
        state: StreamSidecar.State = .complete,
        startedAt: Timestamp = at(2),
        bytes: Int64? = nil,
        sha256: String? = nil
    ) throws -> StreamSidecar {
        let identity = StreamIdentity(
            account: try PathSafeIdentifier(account, field: "account"),
            callSid: try PathSafeIdentifier(callSid, field: "call"),
            streamSid: try PathSafeIdentifier(streamSid, field: "stream"),
            from: "09876543210",
            to: "09123456789",
            customParameters: ["campaign": "spring"],
            queryParameters: ["sample-rate": "8000"]
        )
        var sidecar = StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: startedAt,
            file: "stream-\(streamSid).wav",
            exorecVersion: "test"
        )
        sidecar.state = state
        sidecar.channels = 2
        sidecar.channelMap = StreamSidecar.channelMap(channels: 2)
        if state != .recording {
            sidecar.endedAt = Timestamp(millisecondsSinceEpoch: startedAt.millisecondsSinceEpoch + 300_000)
            sidecar.frames = 2_400_000
            sidecar.durationSeconds = 300
            sidecar.closeReason = "stop:callended"
            sidecar.bytes = bytes
            sidecar.sha256 = sha256
        }
        return sidecar
    }

    static func recordingSidecar(
        callSid: String,
        url: String,
        bytes: Int64,
        sha256: String,
        fetchedAt: Timestamp = at(400)
    )
        -> RecordingSidecar
    {
        RecordingSidecar(
            state: .complete,
            accountSid: account,
            callSid: callSid,
            url: url,
            fetchedAt: fetchedAt,
            httpStatus: 200,
            contentType: "audio/mpeg",
            format: "mp3",
            channels: 2,
            sampleRate: 8000,
            durationSeconds: 320,
            bytes: bytes,
            sha256: sha256,
            exorecVersion: "test"
        )
    }
}
