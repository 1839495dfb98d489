/// Everything audible in one call, as a function of platform time: the two legs' voices
/// (`LegAudio`), the prompts the platform plays from URLs, and what a voice bot sends back.
///
/// The stream and the recording both render from it, so they always carry the same audio.
/// It has two channels, the sides of a dual recording:
/// - `.leg1`: leg 1's voice, plus what the platform plays to leg 2 (`StartPlaybackValueNew` to the callee);
/// - `.leg2`: leg 2's (or the bot's) voice, plus what the platform plays to leg 1 (`WaitUrl`, a
///   voice bot's replies, `StartPlaybackToNew=Both`).
/// In other words, each channel is what the other party hears; the mono mix is both.
final class CallSoundtrack: Sendable {
    enum Channel: Sendable, Hashable {
        case leg1
        case leg2
    }

    let leg1Voice: Range<Duration>?
    let leg2Voice: Range<Duration>?
    let prompts: [ScheduledPrompt]
    /// Set for a voice bot (bidirectional stream) call.
    let bot: BotReplies?
    /// The call's ``LegAudio/seed(callSid:)``: its voices differ from every other call's.
    let seed: UInt64

    init(
        leg1Voice: Range<Duration>?,
        leg2Voice: Range<Duration>?,
        prompts: [ScheduledPrompt],
        bot: BotReplies?,
        seed: UInt64 = 0
    ) {
        self.seed = seed
        self.leg1Voice = leg1Voice
        self.leg2Voice = leg2Voice
        self.prompts = prompts
        self.bot = bot
    }

    /// `count` samples of `channel` from platform time `start` at `sampleRate`. Waits for a prompt's
    /// audio when the range reaches it (the platform cannot play what it has not fetched).
    func render(_ channel: Channel, from start: Duration, count: Int, sampleRate: Int) async -> [Int16] {
        let range = start..<(start + .nanoseconds(Int64(count) * 1_000_000_000 / Int64(sampleRate)))
        for prompt in self.prompts where prompt.sounds(on: channel, during: range) {
            _ = await prompt.outcome()
        }
        return self.renderLoaded(channel, from: start, count: count, sampleRate: sampleRate)
    }

    /// Fetches every prompt (before rendering a whole recording with `renderLoaded`).
    func loadPrompts() async {
        for prompt in self.prompts { _ = await prompt.outcome() }
    }

    /// Like `render`, without waiting: a prompt not fetched yet is silent.
    func renderLoaded(_ channel: Channel, from start: Duration, count: Int, sampleRate: Int) -> [Int16] {
        let voice = channel == .leg1 ? self.leg1Voice : self.leg2Voice
        var samples =
            if let voice {
                LegAudio.render(
                    channel == .leg1 ? .leg1 : .leg2,
                    start: start,
                    count: count,
                    sampleRate: sampleRate,
                    active: voice,
                    seed: self.seed
                )
            } else {
                [Int16](repeating: 0, count: count)
            }
        let range = start..<(start + .nanoseconds(Int64(count) * 1_000_000_000 / Int64(sampleRate)))
        for prompt in self.prompts where prompt.sounds(on: channel, during: range) {
            guard let clip = prompt.loadedClip else { continue }
            clip.add(
                into: &samples,
                outputStart: start,
                outputRate: sampleRate,
                clipStart: prompt.window.lowerBound,
                window: prompt.window,
                looping: prompt.looping
            )
        }
        if channel == .leg2, let bot = self.bot {
            bot.add(into: &samples, outputStart: start, outputRate: sampleRate)
        }
        return samples
    }

    /// Both channels summed (a single-channel recording, a mono stream).
    func renderLoadedMix(from start: Duration, count: Int, sampleRate: Int) -> [Int16] {
        LegAudio.mix(
            self.renderLoaded(.leg1, from: start, count: count, sampleRate: sampleRate),
            self.renderLoaded(.leg2, from: start, count: count, sampleRate: sampleRate)
        )
    }
}
