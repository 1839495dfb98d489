import ArgumentParser

// Being written in this change; replaced before commit lands.
struct Serve: AsyncParsableCommand {
    func run() async throws { throw ExitCode.failure }
}
