import Doors
import Foundation
import Ingest
import MediaStore

/// What `serve` (and `demo`) warn about at start: settings that work but leave a door open.
///
/// - the example credentials of `config/exorec.example.yaml` (`exotel` / `change-me`) or one of its example
///   tokens in use;
/// - ingest authentication disabled (`ingest.auth.disabled: true`): anyone who reaches the port can stream;
/// - the console on a non-loopback `api.host` without `console.secure_cookies` (a TLS proxy in front);
/// - `calls.public_url` in plain `http://` (or `ws://`) for a host that is not loopback: the stream
///   credentials and the callback token would cross the network in clear text.
struct StartupWarnings {
    /// The example values printed in `config/exorec.example.yaml`.
    static let exampleCredentials: Set<String> = ["exotel:change-me"]
    static let examplePasswords: Set<String> = ["change-me", "changeme", "password", "s3cret", "secret"]
    static let exampleTokens: Set<String> = ["3f9c1e7a5b2d48c0a6e4f1b9d7c3a5e2", "9d2b7c4e1a6f08b3c5e7d9a1f3b5c7e9"]

    struct Warning: Sendable, Hashable {
        /// A stable identifier (`example-credentials`, `auth-disabled`, `plain-http-public-url`, `example-token`).
        var code: String
        var message: String
    }

    static func check(_ file: ConfigFile) -> [Warning] {
        var warnings: [Warning] = []
        let ingest = file.ingest
        for credential in ingest.credentials
        where self.exampleCredentials.contains("\(credential.username):\(credential.password)")
            || self.examplePasswords.contains(credential.password)
        {
            warnings.append(
                Warning(
                    code: "example-credentials",
                    message:
                        "ingest credential '\(credential.username)' uses an example password from the documentation; "
                        + "anyone who has read it can stream to this server: set ingest.auth.credentials "
                        + "(or EXOREC_INGEST_USERNAME and EXOREC_INGEST_PASSWORD) to a secret of your own"
                )
            )
        }
        for (key, token) in [("callbacks.token", file.callbacks.token), ("api.token", file.api.token)] {
            if let token, self.exampleTokens.contains(token) {
                warnings.append(
                    Warning(
                        code: "example-token",
                        message:
                            "\(key) is the example token from config/exorec.example.yaml; generate one of your own "
                            + "(for example: openssl rand -hex 16)"
                    )
                )
            }
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(file.api.host) || file.api.host.hasPrefix("127.")
        if !file.console.users.isEmpty, !loopback, !file.console.secureCookies {
            warnings.append(
                Warning(
                    code: "console-plain-http",
                    message:
                        "the console is on and api.host \(file.api.host) is not loopback, but console.secure_cookies is "
                        + "off: sign-ins and session cookies would cross the network in clear text; put a "
                        + "TLS-terminating proxy in front and set console.secure_cookies: true (docs/CONSOLE.md)"
                )
            )
        }
        if ingest.authDisabled {
            warnings.append(
                Warning(
                    code: "auth-disabled",
                    message:
                        "ingest.auth.disabled is true: any client that reaches \(ingest.server.host):\(ingest.server.port) "
                        + "can open a stream and have it recorded; use it only behind a proxy that authenticates"
                )
            )
        }
        if let publicURL = file.pipeline.publicURL, let plain = Self.plainTextPublicHost(publicURL) {
            warnings.append(
                Warning(
                    code: "plain-http-public-url",
                    message:
                        "calls.public_url is plain \(plain.scheme):// for \(plain.host), which is not loopback: the stream "
                        + "credentials (in the StreamUrl) and the callback token cross the network unencrypted; use https://"
                )
            )
        }
        if let endpoint = file.archive.endpoint, let plain = Self.plainTextPublicHost(endpoint) {
            warnings.append(
                Warning(
                    code: "plain-http-archive",
                    message:
                        "archive.s3.endpoint is plain \(plain.scheme):// for \(plain.host), which is not loopback: the media "
                        + "cross the network unencrypted (requests are signed, not encrypted); use https://"
                )
            )
        }
        return warnings
    }

    /// The scheme and host of a `http://` or `ws://` URL whose host is not loopback; nil otherwise.
    static func plainTextPublicHost(_ url: String) -> (scheme: String, host: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "ws", var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return Self.isLoopback(host) ? nil : (scheme, host)
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension ConfigFile {
    /// Files 0640 and folders 0750 (umask 027), and the `storage.group` reader group, for everything the
    /// process creates from now on.
    func applyFilePermissions() {
        FilePermissions.restrictProcessUmask()
        FilePermissions.setReaderGroup(self.storageGroup.flatMap(FilePermissions.groupID(named:)))
    }
}
