import ArgumentParser

// Being written in this change; replaced before commit lands.
struct BenchParser: AsyncParsableCommand {
    func run() async throws { throw ExitCode.failure }
}
