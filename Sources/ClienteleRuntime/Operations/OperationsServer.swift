import ClienteleDomain
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// The worker's HTTP endpoints for operators, on `CLIENTELE_HTTP_HOST`:`CLIENTELE_HTTP_PORT`:
///
/// - `GET /metrics`: every metric in Prometheus's text format (0.0.4);
/// - `GET /health/live`: 200 while the worker's loops make progress, else 503;
/// - `GET /health/ready`: 200 when it is in its group with partitions (or has swept), the store
///   answers and a broker is reachable, else 503.
///
/// The health answers carry a small JSON body naming each check and what it saw. Port 0 takes a
/// free port; the port bound is logged (`serving /metrics and /health`, level notice).
public struct OperationsServer: Service {
    let host: String
    let port: Int
    let registry: PrometheusCollectorRegistry
    let health: WorkerHealth
    let logger: Logger

    public init(host: String, port: Int, registry: PrometheusCollectorRegistry, health: WorkerHealth, logger: Logger) {
        self.host = host
        self.port = port
        self.registry = registry
        self.health = health
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        router.get("metrics") { [registry] _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: buffer))
        }
        router.get("health/live") { [health] _, _ in Self.response(health.liveness()) }
        router.get("health/ready") { [health] _, _ in Self.response(health.readiness()) }
        let started = Atomic<Bool>(false)
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let application = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { [logger, host] channel in
                started.store(true, ordering: .releasing)
                logger.notice("serving /metrics and /health", metadata: [
                    "host": "\(host)", "port": "\(channel.localAddress?.port.map(String.init) ?? "?")",
                ])
            },
            logger: quiet)
        do {
            try await application.run()
        } catch where !started.load(ordering: .acquiring) {
            throw ConfigurationProblem(
                "CLIENTELE_HTTP_HOST/CLIENTELE_HTTP_PORT: cannot listen on \(host):\(port) (\(error)): choose a free port (0 takes any) or another address")
        }
    }

    private static func response(_ report: WorkerHealth.Report) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(report.json + "\n")
        return Response(status: report.ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}
