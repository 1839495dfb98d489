import ExotelKit
import Synchronization

/// One limiter per (base URL, account): the platform counts per account, and every client in the process
/// talking to the same account must draw from the same budget.
private let sharedLimiters = Mutex<[String: RequestRateLimiter]>([:])

extension RequestRateLimiter {
    /// The process-wide limiter of `accountSid` at `baseURL`, created on first use with the platform's
    /// 200 requests per minute and `clock`. Later callers get the same instance (and so its clock, whatever
    /// clock they pass); tests that need their own clock inject a fresh limiter instead.
    public static func shared(accountSid: String, baseURL: String, clock: ScaledClock) -> RequestRateLimiter {
        let key = "\(baseURL.lowercased())|\(accountSid)"
        return sharedLimiters.withLock { limiters in
            if let existing = limiters[key] { return existing }
            let limiter = RequestRateLimiter(clock: clock)
            limiters[key] = limiter
            return limiter
        }
    }
}
