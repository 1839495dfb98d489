public import AsyncHTTPClient
public import ExotelKit
import Foundation
public import Logging

/// The simulated Exotel platform behind the HTTP front: places calls, runs each call's lifecycle on
/// the (scaled) clock, streams, records, and delivers status callbacks.
public actor SimulatedPlatform {
    private struct CallRecord: Sendable {
        let sid: String
        let accountSid: String
        let request: ConnectCallRequest
        let plan: CallPlan
        let origin: ScaledClock.Instant
        var ended = false
        var recording: SimulatedRecording?
    }

    public nonisolated let configuration: SimulatorConfiguration
    public nonisolated let clock: ScaledClock
    private let seams: SimulatorSeams
    private let logger: Logger
    private let audioCache: AudioCache
    /// Platform dates: wall time when the simulator started, advanced by clock time (so dates run scaled too).
    private let epochDate: Date
    private let epochInstant: ScaledClock.Instant
    private var calls: [String: CallRecord] = [:]
    private var running: [String: Task<Void, Never>] = [:]
    private var played: [PlayedAudio] = []
    private var attempts: [CallbackDeliveryAttempt] = []

    public init(configuration: SimulatorConfiguration, clock: ScaledClock, httpClient: HTTPClient, logger: Logger) {
        self.init(configuration: configuration, clock: clock, seams: .network(httpClient: httpClient, logger: logger), logger: logger)
    }

    /// With injected audio fetching, stream connections and callback posting (tests).
    public init(configuration: SimulatorConfiguration, clock: ScaledClock, seams: SimulatorSeams, logger: Logger) {
        self.configuration = configuration
        self.clock = clock
        self.seams = seams
        self.logger = logger
        self.audioCache = AudioCache(fetcher: seams.audioFetcher)
        self.epochDate = Date()
        self.epochInstant = clock.now
    }

    /// The request is already validated by the front. Returns the `Call` as the platform answers at once
    /// (Status "in-progress"), and starts the call's lifecycle on the clock.
    public func placeCall(accountSid: String, request: ConnectCallRequest) -> PlatformCall {
        let sid = Self.newSid()
        let record = CallRecord(
            sid: sid, accountSid: accountSid, request: request,
            plan: CallPlan(request: request, scenario: self.configuration.scenario), origin: self.clock.now)
        self.calls[sid] = record
        self.running[sid] = Task { await self.run(sid: sid) }
        var call = self.platformCall(record, withDetails: false)
        call.status = "in-progress"
        return call
    }

    /// Call Details (with `details` filled) or nil for an unknown sid / other account.
    public func call(accountSid: String, sid: String) -> PlatformCall? {
        guard let record = self.calls[sid] ?? self.calls.first(where: { $0.key.lowercased() == sid.lowercased() })?.value,
            record.accountSid == accountSid
        else { return nil }
        return self.platformCall(record, withDetails: true)
    }

    /// The recording file once it exists; `availableAt` applies `recordingDelay`.
    public func recording(accountSid: String, callSid: String) -> SimulatedRecording? {
        guard let record = self.calls[callSid], record.accountSid == accountSid else { return nil }
        return record.recording
    }

    /// Every audio URL fetch/playback, with the version (sha256 hex of the bytes) actually played.
    public func playedAudio() -> [PlayedAudio] {
        self.played
    }

    /// Every status-callback delivery attempt (and dropped callback), in order.
    public func callbackAttempts() -> [CallbackDeliveryAttempt] {
        self.attempts
    }

    /// The lifecycle plan of a call (its scripted timeline), for inspection.
    public func plan(ofCall sid: String) -> CallPlan? {
        self.calls[sid]?.plan
    }

    /// Suspends until every call has ended and every callback was delivered (or given up).
    public func waitUntilIdle() async {
        while let (sid, task) = self.running.first {
            await task.value
            self.running[sid] = nil
        }
    }

    /// Cuts every running call short (no further events, streams closed) and waits for that.
    public func shutdown() async {
        for task in self.running.values { task.cancel() }
        await self.waitUntilIdle()
    }

    // MARK: - The lifecycle

    private func run(sid: String) async {
        guard let record = self.calls[sid] else { return }
        let plan = record.plan
        let request = record.request
        let events = Set(request.statusCallbackEvents)
        await withTaskGroup(of: Void.self) { group in
            if events.contains(.ringing) {
                group.addTask { await self.sendCallback(sid: sid, event: .ringing, at: .zero) }
            }
            if let streamStart = plan.streamStart, let url = CallPlan.streamURL(of: request) {
                group.addTask { await self.stream(record: record, url: url, start: streamStart) }
            }
            guard await self.sleep(record, until: plan.leg1.answeredAt) else { return group.cancelAll() }
            if let answered1 = plan.leg1.answeredAt {
                if events.contains(.answered) {
                    group.addTask { await self.sendCallback(sid: sid, event: .answered, at: answered1) }
                }
                if plan.mode == .twoNumber, let waitURL = request.waitURL {
                    // Played to the caller while leg 2 rings.
                    group.addTask { await self.play(url: waitURL, callSid: sid, to: "caller") }
                }
            }
            if let answered2 = plan.leg2?.answeredAt {
                guard await self.sleep(record, until: answered2) else { return group.cancelAll() }
                if let playback = request.startPlaybackValue {
                    // Played to the callee (or both) before the parties are connected.
                    let audience = (request.startPlaybackTo ?? .callee) == .both ? "both" : "callee"
                    group.addTask { await self.play(url: playback, callSid: sid, to: audience) }
                }
                if events.contains(.answered) {
                    group.addTask { await self.sendCallback(sid: sid, event: .answered, at: answered2) }
                }
            }
            guard await self.sleep(record, until: plan.end) else { return group.cancelAll() }
            self.calls[sid]?.ended = true
            if request.record, let conversationStart = plan.conversationStart {
                await self.writeRecording(record: record, window: conversationStart..<plan.end)
            }
            if request.statusCallback != nil {
                if events.contains(.terminal) {
                    group.addTask { await self.sendCallback(sid: sid, event: .terminal, at: plan.end) }
                } else if events.isEmpty {
                    group.addTask { await self.sendCallback(sid: sid, event: nil, at: plan.end) }
                }
            }
        }
        self.calls[sid]?.ended = true
        // A long-running simulator must not keep every finished call's task.
        self.running[sid] = nil
    }

    /// Sleeps until `offset` after the call was placed; false when cancelled.
    private func sleep(_ record: CallRecord, until offset: Duration?) async -> Bool {
        guard let offset else { return !Task.isCancelled }
        do {
            try await self.clock.sleep(until: record.origin.advanced(by: offset), tolerance: nil)
            return true
        } catch {
            return false
        }
    }

    private func play(url: String, callSid: String, to audience: String) async {
        do {
            let audio = try await self.audioCache.audio(for: url)
            self.played.append(PlayedAudio(
                    callSid: callSid, url: url, sha256: audio.sha256, fromCache: audio.fromCache, playedTo: audience))
        } catch {
            // The real platform plays nothing and carries on with the call.
            self.logger.warning("audio fetch failed", metadata: ["call": "\(callSid)", "url": "\(url)", "error": "\(error)"])
        }
    }

    private func stream(record: CallRecord, url: String, start: Duration) async {
        guard let target = StreamTarget(streamURL: url) else {
            self.logger.warning("stream URL not usable", metadata: ["call": "\(record.sid)", "url": "\(url)"])
            return
        }
        guard await self.sleep(record, until: start) else { return }
        let plan = record.plan
        let to: String? =
            switch record.request.destination {
            case .number(let number): number
            case .flow, .voiceBot: record.request.callerId
            }
        let session = StreamSession(
            target: target, streamSid: Self.newSid(), callSid: record.sid, accountSid: record.accountSid,
            from: record.request.from, to: to, origin: record.origin, start: start, end: plan.end,
            leg1Active: plan.leg1.answeredAt.map { $0..<plan.end },
            leg2Active: plan.leg2?.answeredAt.map { $0..<plan.end })
        do {
            try await session.run(connector: self.seams.streamConnector, clock: self.clock)
        } catch {
            self.logger.warning("stream failed", metadata: ["call": "\(record.sid)", "error": "\(error)"])
        }
    }

    private func writeRecording(record: CallRecord, window: Range<Duration>) async {
        let configuration = self.configuration
        let request = record.request
        let plan = record.plan
        let sid = record.sid
        let accountSid = record.accountSid
        // Encoding is CPU work: keep it off the actor so Call Details stay answerable meanwhile.
        let result: Result<String, any Error> = await Task.detached {
            Result {
                try RecordingWriter.write(
                    directory: configuration.recordingsDirectory, accountSid: accountSid, callSid: sid,
                    channels: request.recordingChannels ?? .single, format: request.recordingFormat ?? .mp3,
                    sampleRate: configuration.recordingSampleRate, window: window,
                    leg1Active: plan.leg1.answeredAt.map { $0..<plan.end },
                    leg2Active: plan.leg2?.answeredAt.map { $0..<plan.end })
            }
        }.value
        switch result {
        case .success(let path):
            self.calls[sid]?.recording = SimulatedRecording(
                path: path, contentType: "audio/mpeg",
                availableAt: record.origin.advanced(by: plan.end + configuration.recordingDelay))
        case .failure(let error):
            self.logger.error("recording failed", metadata: ["call": "\(sid)", "error": "\(error)"])
        }
    }

    private func sendCallback(sid: String, event: StatusCallbackEvent?, at offset: Duration) async {
        guard let record = self.calls[sid], let url = record.request.statusCallback else { return }
        let callback = self.statusCallback(record, event: event, at: offset)
        let dispatcher = CallbackDispatcher(
            poster: self.seams.callbackPoster, clock: self.clock, faults: self.configuration.callbackFaults,
            contentType: record.request.statusCallbackContentType ?? .multipart)
        await dispatcher.deliver(callback, to: url) { attempt in await self.log(attempt) }
    }

    private func log(_ attempt: CallbackDeliveryAttempt) {
        self.attempts.append(attempt)
    }

    // MARK: - What the platform reports

    private func date(_ record: CallRecord, _ offset: Duration) -> String {
        let elapsed = self.epochInstant.duration(to: record.origin.advanced(by: offset))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return PlatformTimestamp.format(self.epochDate.addingTimeInterval(seconds))
    }

    private func recordingURL(_ record: CallRecord) -> String? {
        guard record.request.record, record.plan.conversationStart != nil else { return nil }
        return self.configuration.recordingURL(accountSid: record.accountSid, callSid: record.sid)
    }

    private func destinationNumber(_ record: CallRecord) -> String? {
        if case .number(let to) = record.request.destination { return to }
        return nil
    }

    private func platformCall(_ record: CallRecord, withDetails: Bool) -> PlatformCall {
        let plan = record.plan
        let elapsed = record.origin.duration(to: self.clock.now)
        var call = PlatformCall(sid: record.sid, status: record.ended ? plan.status : "in-progress")
        call.parentCallSid = nil
        call.dateCreated = self.date(record, .zero)
        call.dateUpdated = self.date(record, record.ended ? plan.end : min(max(elapsed, .zero), plan.end))
        call.accountSid = record.accountSid
        call.to = self.destinationNumber(record)
        call.from = record.request.from
        call.phoneNumberSid = record.request.callerId
        call.startTime = self.date(record, .zero)
        call.direction = "outbound-api"
        call.uri = "/v1/Accounts/\(record.accountSid)/Calls/\(record.sid)"
        if record.ended {
            call.endTime = self.date(record, plan.end)
            call.duration = String(CallPlan.seconds(plan.end))
            call.recordingURL = self.recordingURL(record)
        }
        if withDetails {
            var details = PlatformCall.Details()
            details.conversationDuration = record.ended ? plan.conversationDuration : nil
            details.leg1Status = self.legStatus(plan.leg1, ended: record.ended, elapsed: elapsed)
            details.leg2Status = plan.leg2.map { self.legStatus($0, ended: record.ended, elapsed: elapsed) }
            details.legs = (plan.leg2 == nil ? [0] : [0, 1]).map { index in
                PlatformCall.Details.Leg(id: index + 1, onCallDuration: record.ended ? plan.onCallDuration(leg: index) : nil)
            }
            call.details = details
        }
        return call
    }

    private func legStatus(_ leg: CallPlan.Leg, ended: Bool, elapsed: Duration) -> String {
        if ended { return leg.status }
        if let answered = leg.answeredAt, elapsed >= answered { return "in-progress" }
        return elapsed >= leg.ringAt ? "ringing" : "queued"
    }

    private func statusCallback(_ record: CallRecord, event: StatusCallbackEvent?, at offset: Duration) -> StatusCallback {
        let plan = record.plan
        var callback = StatusCallback(callSid: record.sid)
        let terminal = event == nil || event == .terminal
        callback.status = terminal ? plan.status : (event == .ringing ? "ringing" : "in-progress")
        callback.dateUpdated = self.date(record, offset)
        callback.recordingURL = terminal ? self.recordingURL(record) : nil
        guard let event else { return callback }  // the legacy minimal callback
        callback.eventType = event.rawValue
        callback.dateCreated = self.date(record, .zero)
        callback.startTime = self.date(record, .zero)
        callback.endTime = terminal ? self.date(record, plan.end) : nil
        callback.conversationDuration = terminal ? plan.conversationDuration : nil
        callback.direction = "outbound-api"
        callback.from = record.request.from
        callback.to = self.destinationNumber(record)
        callback.phoneNumberSid = record.request.callerId
        callback.customField = terminal ? record.request.customField : nil
        let legs = [plan.leg1] + (plan.mode == .twoNumber ? [plan.leg2] : [])
        callback.legs = legs.enumerated().map { index, leg in
            guard let leg else { return StatusCallback.Leg() }  // leg 2 never dialled
            var entry = StatusCallback.Leg()
            if terminal {
                entry.status = leg.status
                entry.onCallDuration = plan.onCallDuration(leg: index)
            } else if let answered = leg.answeredAt, answered <= offset {
                entry.status = "in-progress"
            }
            if leg.answeredAt != nil, entry.status != nil {
                entry.answeredBy = index == 0 ? "NA" : "Human"
            }
            return entry
        }
        return callback
    }

    private static func newSid() -> String {
        let high = UInt64.random(in: .min ... .max)
        let low = UInt64.random(in: .min ... .max)
        func hex(_ value: UInt64) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }
        return hex(high) + hex(low)
    }
}
