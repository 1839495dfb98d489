import ArgumentParser
import Doors

/// `--server` and `--token` of the commands that talk to a running `exorec serve`'s internal door
/// (`watch`, `pause`, `resume`), and how they default from the configuration.
struct InternalDoorOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The server's base URL (default: http://api.host:api.port, the internal door).",
            valueName: "url"
        )
    )
    var server: String?

    @Option(
        name: .long,
        help: ArgumentHelp("The API token (default: api.token or EXOREC_API_TOKEN).", valueName: "token")
    )
    var token: String?

    func validate() throws {
        if let server, !(server.hasPrefix("http://") || server.hasPrefix("https://")) {
            throw ValidationError("--server must be an http:// or https:// URL.")
        }
    }

    /// The door's base URL and token: the options, else the configuration's `api` section (a wildcard
    /// listening address is reached on loopback).
    func endpoint(_ file: ConfigFile) throws -> (server: String, token: String) {
        guard let token = self.token ?? file.api.token else {
            throw ValidationError(
                "no API token: pass --token, or set api.token (or EXOREC_API_TOKEN) as the server has it."
            )
        }
        let api = file.api
        let host =
            ["0.0.0.0", "::", ""].contains(api.host)
            ? "127.0.0.1" : (api.host.contains(":") ? "[\(api.host)]" : api.host)
        return (self.server ?? "http://\(host):\(api.port)", token)
    }
}
