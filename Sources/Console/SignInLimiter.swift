import Synchronization

/// Failed sign-ins per user name and per source address, in a sliding window: past the limit, sign-in is
/// refused (429) without checking the password, until the oldest failure leaves the window. Per node
/// (memory): with two nodes an attacker gets at most twice the attempts. Bounded: at most ``maxKeys`` names
/// and addresses are remembered (the oldest are forgotten first), so a flood of made-up names cannot grow it.
final class SignInLimiter: Sendable {
    static let maxKeys = 10_000

    private let maxPerName: Int
    private let maxPerAddress: Int
    private let window: Duration
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])

    init(maxPerName: Int, maxPerAddress: Int, window: Duration) {
        self.maxPerName = maxPerName
        self.maxPerAddress = maxPerAddress
        self.window = window
    }

    /// How long until `name` from `address` may try again, or nil when it may now.
    func wait(name: String, address: String, now: ContinuousClock.Instant = .now) -> Duration? {
        let name = Self.key(name)
        return self.failures.withLock { failures in
            var longest: Duration?
            for (key, limit) in [("n:" + name, self.maxPerName), ("a:" + address, self.maxPerAddress)] {
                let recent = (failures[key] ?? []).filter { now - $0 < self.window }
                failures[key] = recent.isEmpty ? nil : recent
                if recent.count >= limit, let oldest = recent.first {
                    let wait = self.window - (now - oldest)
                    longest = max(longest ?? .zero, wait)
                }
            }
            return longest
        }
    }

    func recordFailure(name: String, address: String, now: ContinuousClock.Instant = .now) {
        let name = Self.key(name)
        self.failures.withLock { failures in
            if failures.count >= Self.maxKeys {
                // Forget the keys whose newest failure is oldest.
                let cut = failures.sorted { ($0.value.last ?? now) < ($1.value.last ?? now) }.prefix(Self.maxKeys / 10)
                for (key, _) in cut { failures[key] = nil }
            }
            failures["n:" + name, default: []].append(now)
            failures["a:" + address, default: []].append(now)
        }
    }

    /// A successful sign-in clears the name's failures (not the address's).
    func recordSuccess(name: String) {
        let name = Self.key(name)
        _ = self.failures.withLock { $0.removeValue(forKey: "n:" + name) }
    }

    /// A typed name as a key: at most 64 bytes (a valid user name is no longer), so a flood of huge made-up
    /// names costs bounded memory.
    static func key(_ name: String) -> String { String(decoding: name.utf8.prefix(64), as: UTF8.self) }
}

/// At most `limit` password checks at once: scrypt costs memory and a core each.
final class CheckGate: Sendable {
    private let limit: Int
    private let running = Mutex(0)

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        self.running.withLock {
            guard $0 < self.limit else { return false }
            $0 += 1
            return true
        }
    }

    func leave() { self.running.withLock { $0 -= 1 } }
}
