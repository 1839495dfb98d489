import ExotelKit
import MediaStore

/// Turns a `start` event's ids into the stream's validated identity (``StreamIdentity``).
///
/// Missing ids never refuse a stream whose audio is valid: an empty or absent call_sid or account_sid is
/// "not given" (the recorder then files the stream under `_unknown` or `_streams`), and a start without any
/// stream_sid gets one made up here (`exorec-` and 32 hex digits, flagged in the sidecar). Ids that are given
/// must be path-safe (``PathSafeIdentifier``): those are refused, since they would become folder names.
enum StreamStartIdentity {
    static func identity(
        of start: StreamStart,
        encoding: StreamEncoding,
        queryParameters: [String: String]
    ) throws(MediaError) -> StreamIdentity {
        let given = { (value: String?) -> String? in value.flatMap { $0.isEmpty ? nil : $0 } }
        let streamSid: PathSafeIdentifier
        let generated: Bool
        if let sid = given(start.streamSid) {
            streamSid = try PathSafeIdentifier(sid, field: "stream_sid")
            generated = false
        } else {
            streamSid = Self.generatedStreamSid()
            generated = true
        }
        var callSid: PathSafeIdentifier?
        if let value = given(start.callSid) { callSid = try PathSafeIdentifier(value, field: "start.call_sid") }
        var account: PathSafeIdentifier?
        if let value = given(start.accountSid) { account = try PathSafeIdentifier(value, field: "start.account_sid") }
        return StreamIdentity(
            account: account,
            callSid: callSid,
            streamSid: streamSid,
            streamSidGenerated: generated,
            // The name as sent, bounded: MIME parameters after a known name are tolerated, not kept at any length.
            sourceEncoding: encoding,
            mediaFormatEncoding: start.mediaFormat?.encoding.map { String($0.prefix(64)) },
            from: start.from,
            to: start.to,
            customParameters: start.customParameters,
            queryParameters: queryParameters
        )
    }

    /// `exorec-` and 128 random bits in hex: path-safe, and never one the platform would send.
    static func generatedStreamSid() -> PathSafeIdentifier {
        var generator = SystemRandomNumberGenerator()
        let bits = [generator.next(), generator.next()] as [UInt64]
        let hex = bits.map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
        // Letters, digits and one dash: always valid.
        return try! PathSafeIdentifier("exorec-\(hex)", field: "stream_sid")
    }
}
