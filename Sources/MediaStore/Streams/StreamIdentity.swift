import ExotelKit

/// Who a stream is, as its start told it, already validated: it decides the stream's folder and fills its
/// sidecar. The ingest makes it from a start event (`StreamStartIdentity`); tests and tools make it directly.
///
/// A start may lack the account, the call or even the stream's id (thin test clients send only a top-level
/// `stream_sid`): the stream is kept all the same. With a call but no account it goes to the call's folder
/// under the account `_unknown` (``CallSidecar/unknownAccount``); without a call, under
/// ``StorageLayout/unattachedStreamDirectory(streamSid:startedAt:)``.
public struct StreamIdentity: Sendable, Hashable {
    public var account: PathSafeIdentifier?
    public var callSid: PathSafeIdentifier?
    public var streamSid: PathSafeIdentifier
    /// The start carried no stream_sid: `streamSid` was made up by exorec.
    public var streamSidGenerated: Bool
    /// What the payloads are; G.711 arrives expanded to 16-bit samples.
    public var sourceEncoding: StreamEncoding
    /// `media_format.encoding` as sent.
    public var mediaFormatEncoding: String?
    public var from: String?
    public var to: String?
    public var customParameters: [String: String]
    public var queryParameters: [String: String]

    public init(
        account: PathSafeIdentifier?,
        callSid: PathSafeIdentifier?,
        streamSid: PathSafeIdentifier,
        streamSidGenerated: Bool = false,
        sourceEncoding: StreamEncoding = .pcm16,
        mediaFormatEncoding: String? = nil,
        from: String?,
        to: String?,
        customParameters: [String: String],
        queryParameters: [String: String]
    ) {
        self.account = account
        self.callSid = callSid
        self.streamSid = streamSid
        self.streamSidGenerated = streamSidGenerated
        self.sourceEncoding = sourceEncoding
        self.mediaFormatEncoding = mediaFormatEncoding
        self.from = from
        self.to = to
        self.customParameters = customParameters
        self.queryParameters = queryParameters
    }

    /// The folder this stream's files go to.
    public func directory(in layout: StorageLayout, startedAt: Timestamp) -> String {
        guard let callSid = self.callSid else {
            return layout.unattachedStreamDirectory(streamSid: self.streamSid, startedAt: startedAt)
        }
        return layout.callDirectory(
            account: self.account ?? StorageLayout.unknownAccount,
            callSid: callSid,
            startedAt: startedAt
        )
    }
}
