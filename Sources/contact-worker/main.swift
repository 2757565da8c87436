import ClienteleRuntime

/// Consumes `contacts`: keeps prospects (hot/cold), contact history, complaints, satisfaction,
/// consent and erasure current, and emits status changes and follow-up tasks through the outbox.
WorkerLauncher.prepareProcess()
await WorkerLauncher.run(workerName: "contact-worker", defaultHTTPPort: 9102) { configuration in
    ContactHandler(maxMessageBytes: configuration.maxMessageBytes, timeWindow: configuration.timeWindow)
}
