import ClienteleRuntime

/// Detects churn as time passes: reviews the clients whose next review is due, moves them to
/// `at_risk`/`passive`, and emits `churn-risk` events and retention/reactivation tasks through the
/// store's outbox.
WorkerLauncher.prepareProcess()
await WorkerLauncher.run(workerName: "churn-worker", defaultHTTPPort: 9103) { configuration, logger, operations in
    try ChurnServices(configuration: configuration, logger: logger, operations: operations)
}
