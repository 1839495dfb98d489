import ExorecTesting
import Foundation
import Glibc
import Testing

/// What `serve` and `simulate` say when they cannot start: a port in use is a sentence naming the door and
/// the port (not "bind(descriptor:ptr:bytes:): Address already in use (errno: 98)"), and a second `serve` on
/// a locked storage root is refused before it starts its recording fetcher or anything else.
@Suite(.timeLimit(.minutes(3))) struct ServeStartRefusalTests {
    /// A listening TCP socket on 127.0.0.1 (a free port), held until `close`.
    final class HeldPort {
        let descriptor: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 8) == 0 else {
                close(fd)
                throw TestFailure("bind/listen: errno \(errno)")
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            self.descriptor = fd
            self.port = Int(UInt16(bigEndian: address.sin_port))
        }

        deinit { close(self.descriptor) }
    }

    private static func config(exotelPort: Int? = nil) throws -> String {
        let directory = makeTemporaryDirectory()
        let config = directory + "/exorec.yaml"
        let exotel =
            exotelPort.map {
                """
                exotel:
                  account_sid: acme1
                  api_key: key1
                  api_token: token1
                  base_url: http://127.0.0.1:\($0)
                """
            } ?? ""
        try """
        ingest:
          host: 127.0.0.1
          auth:
            credentials:
              - username: test
                password: test-secret
        api:
          token: refusal-test-token-0123456789
        \(exotel)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    @Test(arguments: [
        ("stream door", "--port"), ("platform door", "--callbacks-port"), ("internal door", "--api-port"),
    ])
    func serveNamesTheDoorWhosePortIsInUse(door: String, option: String) async throws {
        let held = try HeldPort()
        var ports = ["--port": "0", "--callbacks-port": "0", "--api-port": "0"]
        ports[option] = "\(held.port)"
        let arguments =
            ["serve", "--config", try Self.config(), "--storage", makeTemporaryDirectory()]
            + ports.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        let result = try await ExorecProcess.run(arguments)
        #expect(result.status != 0)
        #expect(
            result.errors.contains("the \(door) cannot listen on 127.0.0.1:\(held.port): the port is already in use"),
            "stderr: \(result.errors)"
        )
        #expect(!result.errors.contains("errno"), "stderr: \(result.errors)")
        withExtendedLifetime(held) {}
    }

    @Test func simulateSaysItsPortIsInUse() async throws {
        let held = try HeldPort()
        let result = try await ExorecProcess.run([
            "simulate", "--port", "\(held.port)", "--recordings", makeTemporaryDirectory(),
        ])
        #expect(result.status != 0)
        #expect(
            result.errors.contains("the simulator cannot listen on 127.0.0.1:\(held.port): the port is already in use"),
            "stderr: \(result.errors)"
        )
        #expect(!result.errors.contains("errno"), "stderr: \(result.errors)")
        withExtendedLifetime(held) {}
    }

    @Test func aSecondServeOnALockedRootIsRefusedBeforeItStartsAnything() async throws {
        let storage = makeTemporaryDirectory()
        let config = try Self.config(exotelPort: try PipelineProcess.freeLoopbackPort())
        let base = [
            "serve", "--config", config, "--storage", storage, "--callbacks-port", "0", "--api-port", "0", "--port",
            "0", "--log-level", "debug",
        ]
        let first = try ExorecProcess(base)
        defer { first.signal(SIGKILL) }
        _ = try await first.waitForListening()
        let deadline = ContinuousClock.now + .seconds(30)
        while !first.standardError.contains("recording fetcher started"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(
            first.standardError.contains("recording fetcher started"),
            "the first serve fetches recordings: \(first.standardError)"
        )

        let second = try await ExorecProcess.run(base)
        #expect(second.status != 0)
        #expect(second.errors.contains("another exorec process holds \(storage)"), "stderr: \(second.errors)")
        #expect(
            !second.errors.contains("recording fetcher started"),
            "the refused serve started its fetcher: \(second.errors)"
        )
        #expect(second.output.isEmpty, "stdout: \(second.output)")
    }
}
