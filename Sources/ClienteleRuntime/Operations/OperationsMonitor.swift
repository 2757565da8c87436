import ClienteleKafka
import ClienteleStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// When each input partition last moved (a batch of it committed, or it was read to its end:
/// nothing left to do), for `clientele_partition_last_progress_timestamp_seconds`.
public final class PartitionProgress: Sendable {
    private let movedAt = Mutex<[Int32: Double]>([:])

    public init() {}

    /// These partitions moved now.
    func moved(_ partitions: some Sequence<Int32>, at date: Date = Date()) {
        let seconds = date.timeIntervalSince1970
        movedAt.withLock { movedAt in
            for partition in partitions { movedAt[partition] = seconds }
        }
    }

    /// Forgets partitions this replica no longer owns.
    func retain(_ owned: Set<Int32>) {
        movedAt.withLock { movedAt in movedAt = movedAt.filter { owned.contains($0.key) } }
    }

    var snapshot: [Int32: Double] { movedAt.withLock { $0 } }
}

/// Samples what the worker's metrics and health need from outside its loops, every
/// `interval`: the consumer's statistics (lag per owned partition, group state, rebalances,
/// brokers), the store (the outbox backlog, which is also the store's health check), and for the
/// churn-worker its backlog of due clients and the fitted models' age.
///
/// Series of partitions this replica no longer owns are removed, not left stale.
public struct OperationsMonitor: Service {
    /// The churn-worker's extra samples.
    public struct ChurnSampling: Sendable {
        /// Clients whose review is due by the worker's clock now (nil: no clock yet).
        public var dueClients: @Sendable () async throws -> Int?
        /// The model kinds whose age to report.
        public var modelKinds: [String]

        public init(dueClients: @escaping @Sendable () async throws -> Int?, modelKinds: [String]) {
            self.dueClients = dueClients
            self.modelKinds = modelKinds
        }
    }

    let health: WorkerHealth
    let store: any ClientStore
    let producer: KafkaProducer
    let consumer: KafkaConsumer?
    let inputTopic: String?
    let progress: PartitionProgress?
    let churn: ChurnSampling?
    let interval: Duration
    /// How often the store is sampled (the outbox backlog, which is also its health check).
    let storeInterval: Duration
    let logger: Logger

    public init(
        health: WorkerHealth, store: any ClientStore, producer: KafkaProducer, consumer: KafkaConsumer? = nil, inputTopic: String? = nil,
        progress: PartitionProgress? = nil, churn: ChurnSampling? = nil, interval: Duration = .seconds(2),
        storeInterval: Duration = .seconds(5), logger: Logger
    ) {
        self.storeInterval = storeInterval
        self.health = health
        self.store = store
        self.producer = producer
        self.consumer = consumer
        self.inputTopic = inputTopic
        self.progress = progress
        self.churn = churn
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Two loops: a store that does not answer (a database down) must not stop the Kafka
        // samples, nor the health gauges; its check goes stale and readiness says so.
        await withDiscardingTaskGroup { group in
            group.addTask {
                var gauges = KafkaGauges()
                await every(interval) {
                    sampleKafka(&gauges)
                    gauges.live.record(health.liveness().ok ? 1 : 0)
                    gauges.ready.record(health.readiness().ok ? 1 : 0)
                }
                gauges.ready.record(0)
            }
            group.addTask {
                let gauges = StoreGauges(churn: churn != nil)
                var tick = 0
                // Less often: each sample is a read transaction beside the workers' writes.
                await every(storeInterval) {
                    // A store that hangs does not hold up a graceful shutdown.
                    try? await cancelWhenGracefulShutdown { await sampleStore(gauges) }
                    // The churn backlog and the models' age change slowly: every other sample.
                    if let churn, tick % 2 == 0 {
                        try? await cancelWhenGracefulShutdown { await sampleChurn(churn, gauges: gauges) }
                    }
                    tick += 1
                }
            }
        }
    }

    /// Runs `body` every `interval` until a graceful shutdown.
    private func every(_ interval: Duration, _ body: () async -> Void) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await body()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// The Kafka side's instruments (the per-partition series come and go).
    struct KafkaGauges {
        var lag: [Int32: Gauge] = [:]
        var progress: [Int32: Gauge] = [:]
        var rebalancesSeen = 0
        let assigned = Gauge(label: OperatorMetrics.Names.assignedPartitions)
        let rebalances = Counter(label: OperatorMetrics.Names.rebalances)
        let ready = Gauge(label: OperatorMetrics.Names.ready)
        let live = Gauge(label: OperatorMetrics.Names.live)
    }

    /// The store side's instruments (the model-age series appear with their first model).
    final class StoreGauges: Sendable {
        let modelAge = Mutex<[String: Gauge]>([:])
        /// The churn-worker's only.
        let dueClients: Gauge?
        let outboxPending = Gauge(label: OperatorMetrics.Names.outboxPending)
        let outboxOldestAge = Gauge(label: OperatorMetrics.Names.outboxOldestAge)

        init(churn: Bool) {
            dueClients = churn ? Gauge(label: OperatorMetrics.Names.churnDueClients) : nil
        }
    }

    private func sampleKafka(_ gauges: inout KafkaGauges) {
        // Statistics a client stopped producing say nothing about now (librdkafka's own clock).
        func fresh(_ statistics: KafkaStatistics?) -> KafkaStatistics? {
            statistics.flatMap { Date().timeIntervalSince($0.producedAt) < 60 ? $0 : nil }
        }
        guard let consumer, let inputTopic else {
            let statistics = fresh(producer.statistics)
            health.observeKafka(groupState: nil, steady: true, fatalError: producer.fatalError,
                                brokersUp: statistics?.brokersUp, assignedPartitions: 0)
            return
        }
        let owned = Set(consumer.assignment.filter { $0.topic == inputTopic }.map(\.partition))
        gauges.assigned.record(owned.count)
        let rebalances = consumer.rebalances
        if rebalances > gauges.rebalancesSeen {
            gauges.rebalances.increment(by: rebalances - gauges.rebalancesSeen)
            gauges.rebalancesSeen = rebalances
        }
        let statistics = fresh(consumer.statistics)
        // Only the partitions owned now: a revoked partition's series goes at once.
        for (partition, gauge) in gauges.lag where !owned.contains(partition) {
            gauge.destroy()
            gauges.lag[partition] = nil
        }
        let atEnd = Set(consumer.partitionsAtEnd.filter { $0.topic == inputTopic }.map(\.partition))
        for entry in statistics?.partitions ?? [] where entry.topic == inputTopic && owned.contains(entry.partition) {
            // Read to its end: nothing is behind, even if the last offsets hold no message.
            guard let lag = atEnd.contains(entry.partition) ? 0 : entry.lag else { continue }
            let gauge = gauges.lag[entry.partition] ?? Gauge(
                label: OperatorMetrics.Names.consumerLag, dimensions: [("topic", inputTopic), ("partition", String(entry.partition))])
            gauges.lag[entry.partition] = gauge
            gauge.record(lag)
        }
        if let progress {
            progress.retain(owned)
            let moved = progress.snapshot
            for (partition, gauge) in gauges.progress where moved[partition] == nil {
                gauge.destroy()
                gauges.progress[partition] = nil
            }
            for (partition, seconds) in moved {
                let gauge = gauges.progress[partition] ?? Gauge(
                    label: OperatorMetrics.Names.partitionLastProgress, dimensions: [("topic", inputTopic), ("partition", String(partition))])
                gauges.progress[partition] = gauge
                gauge.record(seconds)
            }
        }
        // Either client's statistics say whether a broker is reachable.
        let brokersUp = [statistics, fresh(producer.statistics)].compactMap { $0?.brokersUp }.max()
        health.observeKafka(
            groupState: statistics.map { "\($0.groupState ?? "?")/\($0.groupJoinState ?? "?")" }, steady: statistics?.groupIsSteady ?? true,
            fatalError: consumer.fatalError ?? producer.fatalError, brokersUp: brokersUp, assignedPartitions: owned.count)
    }

    private func sampleStore(_ gauges: StoreGauges) async {
        do {
            let backlog = try await StoreErrors.counting { try await store.outboxBacklog() }
            gauges.outboxPending.record(backlog.pending)
            let age = backlog.oldestWrittenAt.map { max(0, Date().timeIntervalSince1970 - Double($0.millisecondsSinceEpoch) / 1000) } ?? 0
            gauges.outboxOldestAge.record(age)
            health.observeStore(error: nil)
        } catch {
            health.observeStore(error: "\(error)")
        }
    }

    private func sampleChurn(_ churn: ChurnSampling, gauges: StoreGauges) async {
        do {
            if let due = try await StoreErrors.counting({ try await churn.dueClients() }) { gauges.dueClients?.record(due) }
            for kind in churn.modelKinds {
                guard let model = try await StoreErrors.counting({ try await store.newestModel(kind: kind) }) else { continue }
                let gauge = gauges.modelAge.withLock { ages in
                    if let known = ages[kind] { return known }
                    let made = Gauge(label: OperatorMetrics.Names.modelAge, dimensions: [("kind", kind)])
                    ages[kind] = made
                    return made
                }
                gauge.record(max(0, Date().timeIntervalSince1970 - Double(model.fittedAt.millisecondsSinceEpoch) / 1000))
            }
        } catch {
            logger.debug("churn metrics not sampled", metadata: ["error": "\(error)"])
        }
    }
}
