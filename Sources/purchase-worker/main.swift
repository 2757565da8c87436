import ClienteleRuntime

/// Consumes `purchases`, keeps every client's purchase aggregates and status current, and emits
/// status changes and follow-up tasks through the store's outbox.
WorkerLauncher.prepareProcess()
await WorkerLauncher.run(workerName: "purchase-worker", defaultHTTPPort: 9101) { configuration in
    PurchaseHandler(
        maxMessageBytes: configuration.maxMessageBytes, timeWindow: configuration.timeWindow,
        currencies: configuration.purchaseRules.currencies)
}
