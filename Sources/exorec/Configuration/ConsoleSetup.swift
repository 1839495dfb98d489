import ArgumentParser
import Catalog
import Console
import Doors
import Logging
import MediaStore

/// The console of `exorec serve`, from `console.*`: nil when no user is configured.
enum ConsoleSetup {
    static func mount(
        file: ConfigFile,
        logger: Logger
    ) throws -> (@Sendable (Catalog, StorageLayout) throws -> (any InternalDoorMount)?)? {
        guard !file.console.users.isEmpty else { return nil }
        var users: [ConsoleUser] = []
        for (index, user) in file.console.users.enumerated() {
            let hash: PasswordHash
            do {
                hash = try PasswordHash(text: user.passwordHash)
            } catch {
                throw ValidationError("console.users[\(index)].password_hash: \(error.description)")
            }
            guard let role = ConsoleRole(rawValue: user.role) else {
                throw ValidationError("console.users[\(index)].role: '\(user.role)' is not viewer, auditor or admin")
            }
            guard ConsoleUser.isAcceptableName(user.name) else {
                throw ValidationError("console.users[\(index)].name: must be 1-64 of A-Z a-z 0-9 . _ - @")
            }
            users.append(ConsoleUser(name: user.name, role: role, passwordHash: hash))
        }
        var configuration = ConsoleConfiguration(users: users, exorecVersion: ExorecVersion.string)
        configuration.sessionLifetime = .milliseconds(file.console.sessionLifetimeMs)
        configuration.secureCookies = file.console.secureCookies
        configuration.nodeURLs = file.console.nodeURLs
        let configured = configuration
        return { catalog, layout in
            try ConsoleResponder(configuration: configured, catalog: catalog, layout: layout, logger: logger)
        }
    }
}
