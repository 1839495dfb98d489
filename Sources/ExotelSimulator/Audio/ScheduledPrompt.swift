import Synchronization

/// Who hears audio the platform plays into a call.
public enum PromptAudience: String, Sendable, Hashable {
    /// Leg 1 (`From`): `WaitUrl` while leg 2 rings.
    case caller
    /// Leg 2 (`To`): `StartPlaybackValueNew` by default.
    case callee
    /// Both parties: `StartPlaybackToNew=Both`.
    case both
}

/// Audio the platform plays from a URL at a fixed place in a call's timeline: `WaitUrl` (to the
/// caller while leg 2 rings, repeated until it answers) or `StartPlaybackValueNew` (once, when leg 2
/// answers, to the callee or both).
///
/// The URL is fetched through the platform's cache the first time anything needs the audio (the
/// moment it starts playing), never earlier: a prompt that is never reached is never fetched.
final class ScheduledPrompt: Sendable {
    enum Kind: String, Sendable {
        case wait = "WaitUrl"
        case startPlayback = "StartPlaybackValueNew"
    }

    /// What fetching and decoding gave.
    enum Outcome: Sendable {
        case playable(AudioClip, sha256: String, fromCache: Bool)
        case rejected(reason: String)
    }

    let kind: Kind
    let url: String
    let audience: PromptAudience
    /// Where in the call it may sound (platform time since the call was placed).
    let window: Range<Duration>
    let looping: Bool
    private let cache: AudioCache
    private let loading = Mutex<Task<Outcome, Never>?>(nil)
    private let loaded = Mutex<Outcome?>(nil)

    init(kind: Kind, url: String, audience: PromptAudience, window: Range<Duration>, cache: AudioCache) {
        self.kind = kind
        self.url = url
        self.audience = audience
        self.window = window
        self.looping = kind == .wait
        self.cache = cache
    }

    /// Fetches (once) and decodes the audio; every caller gets the same outcome.
    func outcome() async -> Outcome {
        let task = self.loading.withLock { loading in
            if let loading { return loading }
            let task = Task<Outcome, Never> {
                let outcome = await Self.load(self.url, from: self.cache)
                self.loaded.withLock { $0 = outcome }
                return outcome
            }
            loading = task
            return task
        }
        return await task.value
    }

    /// The audio, if `outcome()` has finished and it is playable.
    var loadedClip: AudioClip? {
        guard case .playable(let clip, _, _) = self.loaded.withLock({ $0 }) else { return nil }
        return clip
    }

    private static func load(_ url: String, from cache: AudioCache) async -> Outcome {
        let audio: (bytes: [UInt8], fromCache: Bool, sha256: String)
        do {
            audio = try await cache.audio(for: url)
        } catch {
            return .rejected(reason: "fetch failed: \(error)")
        }
        do throws(PlaybackAudioError) {
            let clip = try PlaybackAudioDecoder.decode(audio.bytes)
            return .playable(clip, sha256: audio.sha256, fromCache: audio.fromCache)
        } catch {
            return .rejected(reason: error.description)
        }
    }

    /// True when the prompt can sound on `channel` somewhere in `range`.
    func sounds(on channel: CallSoundtrack.Channel, during range: Range<Duration>) -> Bool {
        guard range.overlaps(self.window) else { return false }
        switch (self.audience, channel) {
        case (.both, _), (.caller, .leg2), (.callee, .leg1): return true
        case (.caller, .leg1), (.callee, .leg2): return false
        }
    }
}
