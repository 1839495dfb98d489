import Foundation
import Glibc
import Synchronization

@testable import LoadGen

/// A deliberately plain WebSocket server for end-to-end tests: blocking sockets, a thread per
/// connection, Foundation's JSON parser. It shares no code with the generator's wire layer
/// beyond the accept-key formula, so a bug there shows up as a failed test rather than being
/// mirrored. It records every text message and, on `stop`, writes the stream as
/// `<call_sid>_<stream_sid>.wav` (channel 0 inbound, 1 outbound), as the C floor peer does.
final class RecordingServer: Sendable {
    struct Connection: Sendable {
        var requestHead: String
        var messages: [String] = []
        var closedByClient = false
    }

    enum Mode: Sendable {
        case record(outputDirectory: String, expectedAuthorization: String?)
        /// Answers every upgrade with this HTTP status.
        case refuse(status: Int)
    }

    let port: Int
    private let listener: Int32
    private let mode: Mode
    private let state = Mutex<[Connection]>([])

    init(_ mode: Mode) throws {
        self.mode = mode
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        precondition(bound == 0 && listen(listener, 1024) == 0, "cannot listen on 127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        Thread.detachNewThread { self.acceptLoop() }
    }

    var url: String { "ws://127.0.0.1:\(self.port)/v1/streams" }

    var connections: [Connection] { self.state.withLock { $0 } }

    /// Stops accepting; connection threads end with their connections.
    func stop() {
        shutdown(self.listener, Int32(SHUT_RDWR))
        close(self.listener)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(self.listener, nil, nil)
            guard fd >= 0 else { return }
            Thread.detachNewThread { self.serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var head: [UInt8] = []
        while WebSocketHandshake.headEnd(in: head) == nil {
            guard let byte = self.readExactly(fd, 1) else { return }
            head += byte
        }
        let request = String(decoding: head, as: UTF8.self)
        let headers = Self.headers(request)
        var connection = Connection(requestHead: request)
        defer { self.state.withLock { $0.append(connection) } }

        switch self.mode {
        case .refuse(let status):
            self.write(fd, "HTTP/1.1 \(status) Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        case .record(_, let expected):
            if let expected, headers["authorization"] != expected {
                self.write(fd, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                return
            }
        }
        guard let key = headers["sec-websocket-key"] else { return }
        self.write(
            fd,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(WebSocketHandshake.accept(forKey: key))\r\n\r\n"
        )

        var recorder = StreamRecorder()
        while let (opcode, payload) = self.readFrame(fd) {
            switch opcode {
            case 0x1:
                let text = String(decoding: payload, as: UTF8.self)
                connection.messages.append(text)
                if recorder.received(text), case .record(let directory, _) = self.mode {
                    recorder.save(into: directory)
                }
            case 0x8:
                connection.closedByClient = true
                self.writeBytes(fd, [0x88, 0x02, 0x03, 0xE8])
                return
            default:
                break
            }
        }
    }

    /// One client frame, unmasked; nil at EOF.
    private func readFrame(_ fd: Int32) -> (UInt8, [UInt8])? {
        guard let header = self.readExactly(fd, 2) else { return nil }
        var length = Int(header[1] & 0x7F)
        if length == 126 {
            guard let extended = self.readExactly(fd, 2) else { return nil }
            length = Int(extended[0]) << 8 | Int(extended[1])
        } else if length == 127 {
            guard let extended = self.readExactly(fd, 8) else { return nil }
            length = extended.reduce(0) { $0 << 8 | Int($1) }
        }
        let mask = header[1] & 0x80 != 0 ? self.readExactly(fd, 4) : nil
        guard var payload = self.readExactly(fd, length) else { return nil }
        if let mask { for i in payload.indices { payload[i] ^= mask[i & 3] } }
        return (header[0] & 0x0F, payload)
    }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + have, count - have, 0) }
            guard n > 0 else { return nil }
            have += n
        }
        return bytes
    }

    private func write(_ fd: Int32, _ text: String) { self.writeBytes(fd, Array(text.utf8)) }

    private func writeBytes(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private static func headers(_ head: String) -> [String: String] {
        var headers: [String: String] = [:]
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        return headers
    }
}

/// Collects one stream's PCM from parsed messages, per track.
private struct StreamRecorder {
    var callSid = ""
    var streamSid = ""
    var sampleRate = 8000
    var tracks: [String: [Int16]] = [:]

    /// Takes one message; true when it was `stop`.
    mutating func received(_ text: String) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let event = object["event"] as? String
        else { return false }
        switch event {
        case "start":
            let start = object["start"] as? [String: Any] ?? [:]
            self.callSid = start["call_sid"] as? String ?? ""
            self.streamSid = start["stream_sid"] as? String ?? ""
            let format = start["media_format"] as? [String: Any] ?? [:]
            self.sampleRate = Int(format["sample_rate"] as? String ?? "") ?? 8000
        case "media":
            let media = object["media"] as? [String: Any] ?? [:]
            let track = media["track"] as? String ?? "mono"
            let bytes = [UInt8](Data(base64Encoded: media["payload"] as? String ?? "") ?? Data())
            let samples = stride(from: 0, to: bytes.count - 1, by: 2).map {
                Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
            }
            self.tracks[track, default: []] += samples
        case "stop":
            return true
        default:
            break
        }
        return false
    }

    func save(into directory: String) {
        let path = "\(directory)/\(self.callSid)_\(self.streamSid).wav"
        if let inbound = self.tracks["inbound"], let outbound = self.tracks["outbound"] {
            try? writeWav(interleave([inbound, outbound]), to: path, sampleRate: self.sampleRate, channels: 2)
        } else {
            try? writeWav(self.tracks["mono"] ?? [], to: path, sampleRate: self.sampleRate, channels: 1)
        }
    }
}
