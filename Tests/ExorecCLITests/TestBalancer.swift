import ExorecTesting
import Foundation

/// A real HAProxy (Debian's `haproxy`, `make deps`) in front of the nodes of a process test, with the shape
/// of `deploy/haproxy.cfg`: `/v1/callbacks/` to the platform doors, everything else (WebSocket streams,
/// `/healthz`) to the stream doors. A connection a dead node refuses is retried on another (`option
/// redispatch`), and a node that fails one health check is taken out.
enum TestBalancer {
    struct Backend {
        var name: String
        var streamPort: Int
        var platformPort: Int
    }

    /// Starts it on `publicPort` and returns once `/healthz` answers through it.
    static func start(publicPort: Int, nodes: [Backend], directory: String) async throws -> ExorecProcess {
        guard let haproxy = PipelineProcess.locate("haproxy") else {
            throw TestFailure("haproxy is not installed (make deps installs Debian's haproxy)")
        }
        func servers(_ port: KeyPath<Backend, Int>) -> String {
            nodes.map { "    server \($0.name) 127.0.0.1:\($0[keyPath: port]) check inter 500ms fall 1" }
                .joined(separator: "\n")
        }
        let config = directory + "/haproxy.cfg"
        try """
        defaults
            mode http
            retries 3
            option redispatch
            timeout connect 2s
            timeout client 60s
            timeout server 60s
            timeout tunnel 1h
        frontend public
            bind 127.0.0.1:\(publicPort)
            acl callbacks path_beg /v1/callbacks/
            use_backend platform_doors if callbacks
            default_backend stream_doors
        backend stream_doors
            balance roundrobin
            option httpchk GET /healthz
        \(servers(\.streamPort))
        backend platform_doors
            balance roundrobin
        \(servers(\.platformPort))

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ExorecProcess(executable: haproxy, ["-f", config, "-db"])
        try await PipelineProcess.eventually("haproxy to route to the nodes", timeout: .seconds(30)) {
            let health = try await ExorecProcess.runTool(
                "/usr/bin/curl",
                ["-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", "http://127.0.0.1:\(publicPort)/healthz"]
            )
            guard process.isRunning else {
                throw TestFailure("haproxy exited: \(process.standardError) \(process.standardOutput)")
            }
            return health.output == "200"
        }
        return process
    }
}
