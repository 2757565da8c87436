import ArgumentParser
import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import ClienteleWorkload
import Foundation
import Logging

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole flow locally: embedded broker, both workers, generated purchases and contacts, summary.")

    @Option(help: "Number of distinct clients.") var clients = 2000
    @Option(help: "Number of purchase events.") var purchases = 20_000
    @Option(help: "Number of prospects (known only from contacts).") var prospects = 500
    @Option(help: "Number of contact events.") var contacts = 10_000
    @Option(help: "Folder for the demo's SQLite file and worker log.") var directory = "demo-output"
    @Option(help: "Run on this empty PostgreSQL database (postgres://…) instead of a fresh SQLite file.") var database: String?

    /// The configuration this binary was built with.
    static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    func validate() throws {
        guard clients >= 1, purchases >= 1 else { throw ValidationError("--clients and --purchases must be at least 1") }
    }

    func run() async throws {
        bootstrapCommandLogging(.error)
        print("▶ starting the embedded broker (3 brokers, 16 partitions per topic)")
        let stack: LocalStack
        do { stack = try LocalStack(directory: directory, partitions: 16, database: database) } catch let error as StoreError {
            throw ValidationError("--database: \(error.message)")
        }
        print("  bootstrap.servers=\(stack.cluster.bootstrapServers)")
        do { try await stack.requireEmptyStore() } catch {
            await stack.shutdown()
            throw error
        }
        // Six months of history up to now, as a company has when it starts with Clientele.
        let now = Int64(Date().timeIntervalSince1970)
        let span: Int64 = 180 * 86_400
        let start = Timestamp(millisecondsSinceEpoch: (now - span) * 1000)
        let purchaseLines = PurchaseGenerator(clients: clients, purchases: purchases, start: start, spanSeconds: span - 3600).lines()
        let contactLines = ContactGenerator(clients: clients, prospects: prospects, contacts: contacts, start: start, spanSeconds: span - 3600).lines()
        let badPurchases = PurchaseGenerator.malformedSamples()
        let badContacts = ContactGenerator.malformedSamples()
        let lines = purchaseLines + contactLines
        let bad = badPurchases + badContacts
        // A company's first load: the whole history of both streams is there when the workers start.
        print("▶ loading the history: \(purchaseLines.count) purchases for \(clients) clients and \(contactLines.count) contacts "
            + "(\(prospects) prospects), plus \(bad.count) malformed messages")
        let producer = try KafkaProducer(configuration: stack.kafkaConfiguration, logger: Logger(label: "demo"))
        for (topic, topicLines, topicBad) in [(TopicNames.purchases, purchaseLines, badPurchases), (TopicNames.contacts, contactLines, badContacts)] {
            let name = stack.topics.resolve(topic)
            try await producer.send(topicLines.map {
                OutgoingMessage(topic: name, key: Array($0.clientId.utf8), value: Array($0.json.utf8))
            })
            try await producer.send(topicBad.map { OutgoingMessage(topic: name, key: $0.clientId.map { Array($0.utf8) }, value: $0.bytes) })
        }
        await producer.close()

        print("▶ starting purchase-worker, contact-worker and churn-worker on \(stack.databaseDescription)")
        let started = ContinuousClock.now
        // A stream read to its end counts as complete after 3 s here (30 s by default): the demo's
        // last events do not wait long for the other stream.
        let idle = ["CLIENTELE_STREAM_IDLE_SECONDS": "3"]
        try stack.startWorker("purchase-worker", environment: idle)
        try stack.startWorker("contact-worker", environment: idle)
        try stack.startWorker("churn-worker", environment: idle.merging(["CLIENTELE_SWEEP_INTERVAL_MS": "200"]) { $1 })

        let interactive = isatty(STDOUT_FILENO) == 1
        var firstApplied: (at: ContinuousClock.Instant, count: Int)?
        var summary = try await stack.waitForStore(accepted: lines.count, timeout: .seconds(300)) { summary in
            if firstApplied == nil, summary.acceptedEvents > 0 { firstApplied = (.now, summary.acceptedEvents) }
            if interactive {
                print("\r  applied \(summary.acceptedEvents)/\(lines.count)", terminator: "")
                flushStandardOutput()
            }
        }
        let finished = ContinuousClock.now
        let eventClock = try await stack.waitForChurnSweeps(timeout: .seconds(60))
        summary = try await stack.store().summary()
        let elapsed = (finished - started) / .seconds(1)
        let startup = ((firstApplied?.at ?? finished) - started) / .seconds(1)
        let consuming = max(0.001, (finished - (firstApplied?.at ?? started)) / .seconds(1))
        let rate = Double(summary.acceptedEvents - (firstApplied?.count ?? 0)) / consuming
        if interactive { print("") }
        let deadLetterTopics = [TopicNames.deadLetter(of: TopicNames.purchases), TopicNames.deadLetter(of: TopicNames.contacts)]
        let outputs = try await stack.countMessages(
            on: [TopicNames.clientStatus, TopicNames.followUpTasks] + deadLetterTopics,
            expected: summary.tasksByKind.values.reduce(0, +) + bad.count + summary.statusChanges)
        // Checked against the generated input, on what was published.
        let published = try await stack.readMessages(on: TopicNames.followUpTasks, expected: outputs[TopicNames.followUpTasks] ?? 0)
        let check = EventTimeCheck(purchases: purchaseLines, contacts: contactLines, tasks: published)
        let status = await stack.stopWorkers()
        await stack.shutdown()

        print("")
        print("Clientele demo summary")
        print("======================")
        print("events applied     \(summary.acceptedEvents) in \(String(format: "%.1f", elapsed)) s: \(String(format: "%.1f", startup)) s to join the group, then \(Int(rate)) events/s (\(Self.buildConfiguration) build; `make bench` measures release)")
        print("dead-lettered      \(deadLetterTopics.map { outputs[$0] ?? 0 }.reduce(0, +)) of \(bad.count) malformed messages (on purchases.dlq and contacts.dlq)")
        let stale = summary.suppressedByReason[StaleTasks.reason] ?? 0
        let withdrawn = summary.suppressedByReason[ConsentPolicy.withdrawnReason] ?? 0
        print("tasks held back    \(stale) as history, not news (caused more than CLIENTELE_TASK_MAX_AGE, 7 days, ago); "
            + "\(withdrawn) marketing tasks for clients who had withdrawn consent")
        print("event time         \(check.followUpsAfterPurchase) prospect follow-ups to people who had already bought, "
            + "\(check.marketingAfterWithdrawal) marketing tasks after a withdrawal (checked on the \(published.count) published tasks)")
        print("churn judged at    \(eventClock.map(\.rfc3339) ?? "–") (the churn-worker's last sweep), by the recency rules (no model fitted yet)")
        print("")
        print("clients by status  (\(summary.clients) clients)")
        for (name, count) in summary.clientsByStatus.sorted(by: { $0.value > $1.value }) {
            print("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(count)")
        }
        print("")
        print("tasks by kind")
        for (name, count) in summary.tasksByKind.sorted(by: { $0.value > $1.value }) {
            print("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        print("")
        print("published          \(outputs[TopicNames.clientStatus] ?? 0) client-status events, \(outputs[TopicNames.followUpTasks] ?? 0) follow-up tasks")
        print("workers exit       status \(status) after SIGTERM (logs: \(directory)/purchase-worker.log, contact-worker.log, churn-worker.log)")
        print("")
        print("Look at a client:    .build/debug/clientele client show \(PurchaseGenerator.clientId(0)) --database \(stack.databaseArgument)")
        print("and at a prospect:   .build/debug/clientele client show \(ContactGenerator.prospectId(0)) --database \(stack.databaseArgument)")
    }
}
