/// What a console user may do. Each role can do everything the one before it can.
public enum ConsoleRole: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Search calls and listen to them.
    case viewer
    /// Also verify, export and read the audit log.
    case auditor
    /// Also place and release legal holds.
    case admin

    var rank: Int {
        switch self {
        case .viewer: 0
        case .auditor: 1
        case .admin: 2
        }
    }

    public static func < (a: ConsoleRole, b: ConsoleRole) -> Bool { a.rank < b.rank }
}

/// One `console.users` entry.
public struct ConsoleUser: Sendable, Hashable {
    public var name: String
    public var role: ConsoleRole
    public var passwordHash: PasswordHash

    public init(name: String, role: ConsoleRole, passwordHash: PasswordHash) {
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
    }

    /// Letters, digits and `. _ - @`, 1 to 64 of them: a name that is safe in logs, cookies and audit entries.
    public static func isAcceptableName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                    UInt8(ascii: "@"):
                    true
                default: false
                }
            }
    }
}

/// The web console (`console.*`, docs/CONSOLE.md).
public struct ConsoleConfiguration: Sendable {
    public var users: [ConsoleUser]
    /// How long a sign-in lasts (`console.session_lifetime`).
    public var sessionLifetime: Duration = .seconds(8 * 3600)
    /// Send the session cookie with `Secure` (`console.secure_cookies`): set it when the console is reached
    /// over HTTPS through a TLS-terminating proxy (the internal door itself speaks plain HTTP).
    public var secureCookies = false
    /// Failed sign-ins per user name, and per source address, allowed in ``signInWindow`` before the console
    /// refuses further attempts until the window has passed.
    public var maxFailuresPerName = 5
    public var maxFailuresPerAddress = 20
    public var signInWindow: Duration = .seconds(300)
    /// Other nodes' console URLs by node id (`console.node_urls`), to say where a live stream is.
    public var nodeURLs: [String: String] = [:]
    public var exorecVersion: String

    public init(users: [ConsoleUser], exorecVersion: String) {
        self.users = users
        self.exorecVersion = exorecVersion
    }

    func user(named name: String) -> ConsoleUser? { self.users.first { $0.name == name } }
}
