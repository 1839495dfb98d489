import ExotelKit
import Foundation
import Testing

@testable import LoadGen

@Suite struct FrameTemplateTests {
    let runID = RunID(0xABCD_EF01_2345_6789)

    /// Splits a client frame into its header fields and (unmasked) payload.
    func unframe(_ bytes: [UInt8]) throws -> (opcode: UInt8, payload: [UInt8]) {
        #expect(bytes[0] & 0x80 != 0, "FIN set")
        #expect(bytes[1] & 0x80 != 0, "client frames are masked")
        var length = Int(bytes[1] & 0x7F)
        var at = 2
        if length == 126 {
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            at = 4
        } else if length == 127 {
            length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
            at = 10
        }
        let mask = Array(bytes[at..<at + 4])
        #expect(mask == [0, 0, 0, 0])
        #expect(bytes.count == at + 4 + length)
        return (bytes[0] & 0x0F, Array(bytes[(at + 4)...]))
    }

    func json(_ payload: [UInt8]) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(payload))
        return try #require(object as? [String: Any])
    }

    @Test(arguments: [(8000, false), (16000, true), (24000, true)])
    func mediaFrameDecodesToThePattern(rate: Int, dual: Bool) throws {
        let template = FrameTemplate(sampleRate: rate, dual: dual)
        let sid = self.runID.streamSid(42)
        // Sequence numbers and chunks of every digit count, so the patched lengths are exercised.
        for (frame, sequence) in [(0, 2), (8, 10), (98, 100), (123_455, 246_912)] {
            for channel in 0..<(dual ? 2 : 1) {
                let bytes = template.mediaFrame(
                    stream: 42,
                    streamSid: sid,
                    channel: channel,
                    frame: frame,
                    sequence: sequence
                )
                #expect(bytes.count <= template.maxMediaFrameBytes)
                let (opcode, payload) = try self.unframe(bytes)
                #expect(opcode == 0x1)
                let object = try self.json(payload)
                #expect(object["event"] as? String == "media")
                #expect(object["sequence_number"] as? String == "\(sequence)")
                #expect(object["stream_sid"] as? String == sid)
                let media = try #require(object["media"] as? [String: Any])
                #expect(media["chunk"] as? String == "\(frame + 1)")
                #expect(media["timestamp"] as? String == "\(frame * 100)")
                #expect(media["track"] as? String == (dual ? ["inbound", "outbound"][channel] : nil))
                let base64 = try #require(media["payload"] as? String)
                let pcm = try #require(Data(base64Encoded: base64))
                let samples = stride(from: 0, to: pcm.count, by: 2).map {
                    Int16(bitPattern: UInt16(pcm[$0]) | UInt16(pcm[$0 + 1]) << 8)
                }
                #expect(samples == template.pattern.frame(stream: 42, channel: channel, frame: frame))
            }
        }
    }

    @Test func startAndStopFollowThePlatformShapes() throws {
        let template = FrameTemplate(sampleRate: 16000, dual: false)
        let sid = self.runID.streamSid(3)
        let call = self.runID.callSid(3)
        let start = try self.json(
            try self.unframe(template.startFrame(streamSid: sid, callSid: call, runID: self.runID)).payload
        )
        #expect(start["event"] as? String == "start")
        #expect(start["sequence_number"] as? String == "1")
        #expect(start["stream_sid"] as? String == sid)
        let body = try #require(start["start"] as? [String: Any])
        #expect(body["stream_sid"] as? String == sid)
        #expect(body["call_sid"] as? String == call)
        #expect(body["account_sid"] as? String == "loadgen")
        #expect(body["from"] as? String == "+919800000001")
        #expect(body["to"] as? String == "+918000000001")
        #expect(body["custom_parameters"] as? [String: String] == ["run": self.runID.description])
        #expect(
            body["media_format"] as? [String: String] == [
                "encoding": "audio/x-raw", "sample_rate": "16000", "bit_rate": "16",
            ]
        )

        let stop = try self.json(
            try self.unframe(template.stopFrame(streamSid: sid, callSid: call, sequence: 12)).payload
        )
        #expect(stop["event"] as? String == "stop")
        #expect(stop["sequence_number"] as? String == "12")
        #expect(stop["stream_sid"] as? String == sid)
        #expect(
            stop["stop"] as? [String: String] == ["call_sid": call, "account_sid": "loadgen", "reason": "callended"]
        )

        #expect(
            try self.json(try self.unframe(template.connectedFrame()).payload) as? [String: String] == [
                "event": "connected"
            ]
        )
    }

    /// The control messages, byte for byte: the wire format the server has always received from the load generator
    /// (key order, every scalar a string), whichever code builds them.
    @Test func controlMessagesAreByteExact() throws {
        let template = FrameTemplate(sampleRate: 8000, dual: true)
        let sid = self.runID.streamSid(7)
        let call = self.runID.callSid(7)
        let start = try self.unframe(template.startFrame(streamSid: sid, callSid: call, runID: self.runID))
        #expect(start.opcode == 0x1)
        #expect(
            String(decoding: start.payload, as: UTF8.self)
                == #"{"event":"start","sequence_number":"1","stream_sid":"\#(sid)","start":{"stream_sid":"\#(sid)","#
                + #""call_sid":"\#(call)","account_sid":"loadgen","from":"+919800000001","to":"+918000000001","#
                + #""custom_parameters":{"run":"abcdef0123456789"},"#
                + #""media_format":{"encoding":"audio/x-raw","sample_rate":"8000","bit_rate":"16"}}}"#
        )
        let stop = try self.unframe(template.stopFrame(streamSid: sid, callSid: call, sequence: 1_002))
        #expect(stop.opcode == 0x1)
        #expect(
            String(decoding: stop.payload, as: UTF8.self)
                == #"{"event":"stop","sequence_number":"1002","stream_sid":"\#(sid)","#
                + #""stop":{"call_sid":"\#(call)","account_sid":"loadgen","reason":"callended"}}"#
        )
        #expect(template.connectedFrame() == [0x81, 0x80 | 21, 0, 0, 0, 0] + Array(#"{"event":"connected"}"#.utf8))
    }

    /// Every message the load generator sends parses with the server's own parser to what was meant, and a media
    /// frame carries the same fields and samples as ExotelKit's `StreamMessageEncoder` writes for that frame.
    @Test(arguments: [(8000, false), (16000, true)])
    func messagesParseWithTheServersParser(rate: Int, dual: Bool) throws {
        let template = FrameTemplate(sampleRate: rate, dual: dual)
        let parser = StreamMessageParser()
        let sid = self.runID.streamSid(5)
        let call = self.runID.callSid(5)
        func parse(_ frame: [UInt8]) throws -> StreamMessage {
            let payload = try self.unframe(frame).payload
            return try payload.withUnsafeBytes { bytes throws(StreamProtocolError) in try parser.parse(bytes) }
        }
        /// The fields and decoded PCM of a media message.
        func media(_ payload: [UInt8]) throws -> (frame: MediaFrame, pcm: [UInt8]) {
            try payload.withUnsafeBytes { bytes in
                guard case .media(let frame) = try parser.parse(bytes) else { throw ParseFailure() }
                var pcm = [UInt8](repeating: 0, count: StreamMessageParser.maxDecodedSize(of: frame))
                let count = try pcm.withUnsafeMutableBytes { try parser.decodePayload(of: frame, in: bytes, into: $0) }
                return (frame, Array(pcm[..<count]))
            }
        }

        #expect(try parse(template.connectedFrame()) == .connected)
        guard case .start(let start) = try parse(template.startFrame(streamSid: sid, callSid: call, runID: self.runID))
        else { throw ParseFailure() }
        #expect(start.streamSid == sid && start.callSid == call && start.accountSid == LoadPlan.accountSid)
        #expect(start.sequenceNumber == 1 && start.customParameters == ["run": self.runID.description])
        #expect(start.mediaFormat == MediaFormat(encoding: "audio/x-raw", sampleRate: rate, bitRate: "16"))
        guard case .stop(let stop) = try parse(template.stopFrame(streamSid: sid, callSid: call, sequence: 31)) else {
            throw ParseFailure()
        }
        #expect(
            stop == StreamStop(callSid: call, accountSid: LoadPlan.accountSid, reason: "callended", sequenceNumber: 31)
        )

        for channel in 0..<(dual ? 2 : 1) {
            let frame = template.mediaFrame(stream: 5, streamSid: sid, channel: channel, frame: 14, sequence: 30)
            let ours = try media(self.unframe(frame).payload)
            let samples = template.pattern.frame(stream: 5, channel: channel, frame: 14)
            let encoded = samples.withUnsafeBytes {
                StreamMessageEncoder().media(
                    streamSid: sid,
                    sequenceNumber: 30,
                    chunk: 15,
                    timestampMs: 1_400,
                    track: dual ? [Track.inbound, .outbound][channel] : nil,
                    pcm: $0
                )
            }
            let reference = try media(encoded)
            #expect(ours.frame.sequenceNumber == 30 && ours.frame.chunk == 15 && ours.frame.timestampMs == 1_400)
            #expect(ours.frame.track == reference.frame.track)
            #expect(ours.pcm == reference.pcm && ours.pcm.count == samples.count * 2)
        }
    }

    struct ParseFailure: Error {}

    @Test func identifiersAreUniqueHexOfThirtyTwoCharacters() {
        let sids = (0..<1000).map { self.runID.streamSid($0) } + (0..<1000).map { self.runID.callSid($0) }
        #expect(Set(sids).count == 2000)
        #expect(sids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
        #expect(RunID(1).streamSid(0) != RunID(2).streamSid(0))
    }
}
