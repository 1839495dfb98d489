import Crypto
import Foundation
import _CryptoExtras

/// A salted scrypt hash of a console password: `$scrypt$ln=15,r=8,p=1$SALT$KEY` (SALT and KEY in
/// base64, the parameters in the text so they can be raised later without breaking old hashes).
///
/// scrypt rather than PBKDF2 because it is memory-hard (each guess costs 32 MiB at the default cost,
/// which makes GPU farms expensive); swift-crypto's `_CryptoExtras` has it (BoringSSL), so no new
/// dependency. Checking costs ~0.1 s of one core: sign-ins are rate-limited and at most
/// ``maxConcurrentChecks`` run at once.
public struct PasswordHash: Sendable, Hashable, CustomStringConvertible {
    /// log2 of scrypt's N.
    public let logN: Int
    public let r: Int
    public let p: Int
    public let salt: [UInt8]
    public let key: [UInt8]

    public static let defaultLogN = 15
    static let keyBytes = 32
    /// The costs a hash may name: enough for any sensible setting, never enough to stall the process.
    static let logNRange = 10...20
    static let rRange = 1...16
    static let pRange = 1...4

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A new hash of `password` with a fresh 16-byte salt.
    public static func make(password: String, logN: Int = defaultLogN) throws -> PasswordHash {
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let key = try derive(password, salt: salt, logN: logN, r: 8, p: 1)
        return PasswordHash(logN: logN, r: 8, p: 1, salt: salt, key: key)
    }

    init(logN: Int, r: Int, p: Int, salt: [UInt8], key: [UInt8]) {
        self.logN = logN
        self.r = r
        self.p = p
        self.salt = salt
        self.key = key
    }

    /// Parses the text `exorec console hash-password` prints.
    public init(text: String) throws(ParseError) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else {
            throw ParseError(description: "not a password hash from exorec console hash-password ($scrypt$…)")
        }
        var values: [String: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let value = Int(kv[1]) else {
                throw ParseError(description: "the hash's parameters '\(parts[2].prefix(40))' are not ln=…,r=…,p=…")
            }
            values[String(kv[0])] = value
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"], values.count == 3,
            Self.logNRange.contains(logN), Self.rRange.contains(r), Self.pRange.contains(p)
        else {
            throw ParseError(
                description: "the hash's parameters must be ln=\(Self.logNRange),r=\(Self.rRange),p=\(Self.pRange)"
            )
        }
        guard let salt = Data(base64Encoded: String(parts[3])), (8...64).contains(salt.count),
            let key = Data(base64Encoded: String(parts[4])), key.count == Self.keyBytes
        else {
            throw ParseError(description: "the hash's salt or key is not valid base64 of the right length")
        }
        self.init(logN: logN, r: r, p: p, salt: Array(salt), key: Array(key))
    }

    public var description: String {
        "$scrypt$ln=\(self.logN),r=\(self.r),p=\(self.p)$\(Data(self.salt).base64EncodedString())$\(Data(self.key).base64EncodedString())"
    }

    /// Whether `password` is the one hashed (compared in constant time).
    public func matches(_ password: String) -> Bool {
        guard let key = try? Self.derive(password, salt: self.salt, logN: self.logN, r: self.r, p: self.p) else {
            return false
        }
        return Self.constantTimeEquals(key, self.key)
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, r: Int, p: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            outputByteCount: Self.keyBytes,
            rounds: 1 << logN,
            blockSize: r,
            parallelism: p
        )
        return key.withUnsafeBytes { Array($0) }
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
