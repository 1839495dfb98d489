import Ingest
import Yams

/// The `console` section of `exorec.yaml`: the compliance web console on the internal door
/// (docs/CONSOLE.md). No users: no console.
///
/// | key | type | default |
/// |---|---|---|
/// | `console.users` | list of `{name, role, password_hash}`; role `viewer`, `auditor` or `admin`; the hash from `exorec console hash-password` | none (console off) |
/// | `console.session_lifetime` | duration, 5m-7d | `8h` |
/// | `console.secure_cookies` | bool: mark the session cookie `Secure` (behind an HTTPS proxy) | `false` |
/// | `console.node_urls` | map of node id to that node's console URL (said where a live stream is) | none |
struct ConsoleConfigFile: Sendable {
    struct User: Sendable, Hashable {
        var name: String
        var role: String
        var passwordHash: String
    }

    static let roles: Set<String> = ["viewer", "auditor", "admin"]

    var users: [User] = []
    var sessionLifetimeMs: Int64 = 8 * 3600 * 1000
    var secureCookies = false
    var nodeURLs: [String: String] = [:]

    mutating func apply(_ root: ConfigFile.Section) throws {
        guard let section = try root.section("console") else { return }
        try section.only(["users", "session_lifetime", "secure_cookies", "node_urls"])
        for (index, node) in try section.list("users").enumerated() {
            let user = try ConfigFile.Section(node, path: "console.users[\(index)]")
            try user.only(["name", "role", "password_hash"])
            guard let name = try user.string("name"), let role = try user.string("role"),
                let hash = try user.string("password_hash")
            else {
                throw IngestError.configuration(
                    key: "console.users[\(index)]",
                    reason: "needs name, role and password_hash (from exorec console hash-password)"
                )
            }
            guard Self.roles.contains(role) else {
                throw IngestError.configuration(
                    key: "console.users[\(index)].role",
                    reason: "'\(role.prefix(32))' is not one of viewer, auditor, admin"
                )
            }
            guard hash.hasPrefix("$scrypt$") else {
                throw IngestError.configuration(
                    key: "console.users[\(index)].password_hash",
                    reason: "not a hash from exorec console hash-password ($scrypt$…)"
                )
            }
            guard !self.users.contains(where: { $0.name == name }) else {
                throw IngestError.configuration(
                    key: "console.users[\(index)].name",
                    reason: "'\(name.prefix(64))' is listed twice"
                )
            }
            self.users.append(User(name: name, role: role, passwordHash: hash))
        }
        if let ms = try section.duration("session_lifetime") {
            guard (300_000...7 * 86_400_000).contains(ms) else {
                throw IngestError.configuration(key: "console.session_lifetime", reason: "must be between 5m and 7d")
            }
            self.sessionLifetimeMs = ms
        }
        if let secure = try section.bool("secure_cookies") { self.secureCookies = secure }
        if let urls = try section.section("node_urls") {
            for (key, _) in urls.mapping {
                guard let node = key.string, let url = try urls.string(node) else { continue }
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw IngestError.configuration(
                        key: "console.node_urls.\(node.prefix(63))",
                        reason: "must be an http:// or https:// URL"
                    )
                }
                self.nodeURLs[node] = url
            }
        }
    }
}
