import Foundation
import Metrics
import Prometheus
import Synchronization

/// The process's metrics backend: swift-metrics instruments exported in Prometheus's text format.
///
/// Every metric carries a `worker` label (the executable's name), so one Prometheus job can scrape
/// all three workers; labels are codes only (topic, partition, reason, kind, status), never a
/// client's data.
public enum OperatorMetrics {
    /// This release, as `clientele_build_info{version}` shows it.
    public static let version = "0.9.0"

    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics for `worker` once per process and returns the registry that
    /// `/metrics` serves (a second call returns the first registry).
    public static func bootstrap(worker: String) -> PrometheusCollectorRegistry {
        bootstrapped.withLock { existing in
            if let existing { return existing }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.defaultDurationHistogramBuckets = durationBuckets
            factory.valueHistogramBuckets[Names.eventAge] = eventAgeBuckets
            factory.nameAndLabelSanitizer = { name, labels in
                labels.contains { $0.0 == "worker" } ? (name, labels) : (name, [("worker", worker)] + labels)
            }
            MetricsSystem.bootstrap(factory)
            Gauge(label: Names.buildInfo, dimensions: [("version", version)]).record(1)
            // Exported at 0 from the start, so that a rate over it means something before the first error.
            StoreErrors.register()
            // Restarts show as changes of this value, whatever happened before the first batch.
            Gauge(label: Names.processStart).record(Date().timeIntervalSince1970)
            existing = registry
            return registry
        }
    }

    /// Batch and sweep durations: 1 ms to a minute.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// Event age, seconds: from live (10 ms) to a year of history replayed.
    static let eventAgeBuckets: [Double] = [
        0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400, 604_800, 2_592_000, 31_536_000,
    ]

    /// The metric families' names (the README's table and the dashboard use these).
    public enum Names {
        public static let eventsAccepted = "clientele_events_accepted_total"
        public static let eventsDuplicate = "clientele_events_duplicate_total"
        public static let deadLetters = "clientele_dead_letters_total"
        public static let consumerLag = "clientele_consumer_lag"
        public static let assignedPartitions = "clientele_assigned_partitions"
        public static let rebalances = "clientele_rebalances_total"
        public static let eventAge = "clientele_event_age_seconds"
        public static let batchDuration = "clientele_batch_duration_seconds"
        public static let batchRetries = "clientele_batch_retries_total"
        public static let storeErrors = "clientele_store_errors_total"
        public static let outboxPending = "clientele_outbox_pending"
        public static let outboxOldestAge = "clientele_outbox_oldest_age_seconds"
        public static let outboxPublished = "clientele_outbox_published_total"
        public static let statusChanges = "clientele_status_changes_total"
        public static let tasks = "clientele_tasks_total"
        public static let tasksSuppressed = "clientele_tasks_suppressed_total"
        public static let partitionLastProgress = "clientele_partition_last_progress_timestamp_seconds"
        public static let churnDueClients = "clientele_churn_due_clients"
        public static let churnSweepDuration = "clientele_churn_sweep_duration_seconds"
        public static let churnReviews = "clientele_churn_reviews_total"
        public static let churnRisks = "clientele_churn_risks_total"
        public static let churnLastSweep = "clientele_churn_last_sweep_timestamp_seconds"
        public static let modelAge = "clientele_model_age_seconds"
        public static let buildInfo = "clientele_build_info"
        /// The Prometheus convention's name: when this process started (unix seconds).
        public static let processStart = "process_start_time_seconds"
        public static let ready = "clientele_ready"
        public static let live = "clientele_live"
    }
}

/// Counts failed store operations (each is retried): `clientele_store_errors_total`.
enum StoreErrors {
    private static let counter = Counter(label: OperatorMetrics.Names.storeErrors)

    static func register() { counter.increment(by: 0) }

    /// Runs `body`, counting its failure before rethrowing it.
    @discardableResult
    static func counting<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            counter.increment()
            throw error
        }
    }
}
