import ArgumentParser
import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import ClienteleWorkload
import Foundation
import Logging
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure purchase-worker: sustained events/s, end-to-end latency percentiles, peak memory.",
        discussion: """
            The contact-worker runs beside the purchase-worker, as in a deployment (purchases wait \
            for the contact stream to reach their time). Phase 1 loads --events generated purchases \
            into the embedded broker, then starts purchase-worker and measures its sustained rate \
            from its first applied event to its last. Phase 2 produces live first purchases of new \
            clients at --rate per second (and live contacts of other people at --contact-rate) for \
            --latency-seconds and measures, per purchase, the time from handing it to the producer \
            until its `welcome_new_client` task is readable by a consumer. Build with -c release for \
            meaningful figures.
            """)

    @Option(help: "Purchases for the throughput phase.") var events = 200_000
    @Option(help: "Distinct clients in the throughput phase.") var clients = 20_000
    @Option(help: "Purchases per second in the latency phase.") var rate = 10_000
    @Option(name: .customLong("contact-rate"), help: "Contacts per second in the latency phase.") var contactRate = 1_000
    @Option(name: .customLong("latency-seconds"), help: "Duration of the latency phase.") var latencySeconds = 10
    @Option(help: "Partitions per topic.") var partitions = 16
    @Option(help: "Extra worker settings, e.g. CLIENTELE_BATCH_SIZE=5000 (repeatable).") var env: [String] = []
    @Option(help: "Folder for the benchmark's SQLite file and worker log.") var directory = "bench-output"
    @Option(help: "Run on this empty PostgreSQL database (postgres://…) instead of a fresh SQLite file.") var database: String?
    @Option(help: "purchase-worker replicas sharing the partitions (PostgreSQL; SQLite allows one host only).") var replicas = 1
    @Option(help: "The Python worker measured side by side (default: scripts/bench/peer_purchase_worker.py).") var peer: String?
    @Flag(name: .customLong("no-peer"), help: "Do not run the Python worker beside ours.") var noPeer = false

    func validate() throws {
        guard (1...8).contains(replicas) else { throw ValidationError("--replicas takes 1 to 8") }
    }

    func run() async throws {
        bootstrapCommandLogging(.error)
        var extra: [String: String] = [:]
        for pair in env {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--env takes NAME=VALUE") }
            extra[parts[0]] = parts[1]
        }
        let stack = try LocalStack(directory: directory, partitions: partitions, database: database)
        try await stack.requireEmptyStore()
        let producer = try KafkaProducer(configuration: stack.kafkaConfiguration, logger: Logger(label: "bench"))
        let topic = stack.topics.resolve(TopicNames.purchases)

        // The empty contact stream counts as complete after a second (30 s by default).
        extra["CLIENTELE_STREAM_IDLE_SECONDS"] = extra["CLIENTELE_STREAM_IDLE_SECONDS"] ?? "1"
        // The preloaded history is dated months ago: measure the path that publishes its tasks, as
        // a backlog of recent events does, rather than the one that holds them back as stale.
        extra["CLIENTELE_TASK_MAX_AGE"] = extra["CLIENTELE_TASK_MAX_AGE"] ?? "36500d"

        // Phase 1: preload, then measure the worker's sustained consumption.
        print("▶ phase 1: preloading \(events) purchases for \(clients) clients")
        let lines = PurchaseGenerator(clients: clients, purchases: events, seed: 7).lines()
        try await producer.send(lines.map {
            OutgoingMessage(topic: topic, key: Array($0.clientId.utf8), value: Array($0.json.utf8))
        })
        // The Python worker first, on the same topic, before any worker of ours runs (its CPU and
        // memory are then its own; see ``PeerWorker``).
        var peerResult: PeerWorker.Result?
        var floorResult: SQLiteFloor.Result?
        var floorProblem: String?
        if !noPeer {
            let peerWorker = PeerWorker(script: peer ?? PeerWorker.defaultScript())
            if let problem = peerWorker.problem() { throw ValidationError("cannot run the Python worker beside ours: \(problem); or give --no-peer") }
            print("▶ the Python worker (\(peerWorker.script)) on the same topic, its own group and SQLite file")
            let result = try peerWorker.run(bootstrapServers: stack.cluster.bootstrapServers, topic: topic, events: lines.count,
                                            database: directory + "/peer.sqlite", group: "peer-purchase-\(UUID().uuidString)")
            print(String(format: "  Python worker: %.0f events/s (%d events in %.2f s)", result.eventsPerSecond, result.events, result.seconds))
            peerResult = result
            // Built and run after the peer, whose peak memory is the largest of this process's
            // reaped children so far (the compiler's would hide it).
            let floor = SQLiteFloor(source: SQLiteFloor.defaultSource())
            let (executable, problem) = floor.build(into: directory)
            if let executable {
                print("▶ the SQLite floor of the Python worker's writes (\(floor.source): its statements in C, no Kafka, no JSON)")
                floorResult = try floor.measure(executable: executable, database: directory + "/floor.sqlite", events: lines.count, clients: clients)
                print(String(format: "  SQLite floor: %.0f events/s", floorResult!.eventsPerSecond))
            } else {
                floorProblem = problem
            }
        }
        print("▶ starting contact-worker (no contacts yet), then purchase-worker \(extra.isEmpty ? "" : "with \(extra)")")
        try stack.startWorker("contact-worker", environment: extra)
        let store = try await waitForStore(stack)
        let contactsReady = ContinuousClock.now.advanced(by: .seconds(60))
        while try await store.streamProgress().filter({ $0.stream == .contacts }).count < partitions, ContinuousClock.now < contactsReady {
            try await Task.sleep(for: .milliseconds(100))
        }
        try stack.startReplicas("purchase-worker", count: replicas, environment: extra)
        var firstSeen: (ContinuousClock.Instant, Int)?
        while true {
            let accepted = try await store.acceptedEventCount()
            if firstSeen == nil, accepted > 0 { firstSeen = (.now, accepted) }
            if accepted >= lines.count { break }
            try await Task.sleep(for: .milliseconds(200))  // cheap enough not to steal the worker's CPU
        }
        let finished = ContinuousClock.now
        let (t0, c0) = firstSeen!
        let sustained = Double(lines.count - c0) / max(0.001, (finished - t0) / .seconds(1))
        _ = try await stack.waitForStore(accepted: lines.count, timeout: .seconds(600))
        let drained = ContinuousClock.now
        print(String(format: "  sustained: %.0f events/s (%d events in %.2f s; outbox drained %.2f s later)",
                     sustained, lines.count - c0, (finished - t0) / .seconds(1), (drained - finished) / .seconds(1)))

        // Phase 2: paced live first purchases (and contacts), latency to the welcome task.
        let total = rate * latencySeconds
        print("▶ phase 2: \(total) live first purchases at \(rate)/s, \(contactRate) contacts/s; latency to the welcome_new_client task")
        let records = LatencyRecords()
        let statusTopic = stack.topics.resolve(TopicNames.clientStatus)
        let outputConsumer = try KafkaConsumer(
            configuration: stack.consumerConfiguration, groupId: "bench-\(UUID().uuidString)",
            topics: [stack.topics.resolve(TopicNames.followUpTasks), statusTopic], logger: Logger(label: "bench"))
        // Join the group and skip phase 1's output before measuring; and let the producer learn
        // the contact topic, which phase 1 never produced to (its first contacts would otherwise
        // wait for its metadata, and every purchase for them).
        try await producer.prepare(topics: [topic, stack.topics.resolve(TopicNames.contacts)])
        try await skipExisting(outputConsumer)
        let reader = Task {
            while records.latencies.withLock({ $0.count }) < total {
                let batch = try await outputConsumer.poll(maxMessages: 5000, maxWait: .milliseconds(100))
                let now = ContinuousClock.now
                for message in batch {
                    // Found by key, not by parsing each payload (the reader shares the cores it
                    // measures): a latency client `L<n>` makes one purchase `lat-<n>`, hence one
                    // client-status event and one welcome task, both keyed by the client.
                    guard let key = message.key, key.first == UInt8(ascii: "L") else { continue }
                    let cause = "lat-" + String(decoding: key.dropFirst(), as: UTF8.self)
                    guard let sent = records.sentAt.withLock({ $0[cause] }) else { continue }
                    let milliseconds = (now - sent.instant) / .milliseconds(1)
                    if message.topic == statusTopic {
                        records.statusLatencies.withLock { $0.append((sent.second, milliseconds)) }
                        if let published = message.timestampMilliseconds {
                            records.untilPublished.withLock { $0.append(Double(published - sent.wallMilliseconds)) }
                        }
                    } else {
                        records.latencies.withLock { $0.append(milliseconds) }
                    }
                }
            }
        }
        let tick = Duration.milliseconds(10)
        let perTick = max(1, rate / 100)
        let contactsPerTick = contactRate / 100
        let contactTopic = stack.topics.resolve(TopicNames.contacts)
        var produced = 0
        let producingSince = ContinuousClock.now
        var next = ContinuousClock.now
        var tickNumber = 0
        // One sender, in tick order (the contacts' times go forward in each partition): the pace
        // is kept by the loop below, and a send slower than a tick shows as a lower rate reached.
        // A purchase's latency counts from its send.
        let (tickStream, ticks) = AsyncStream.makeStream(of: ([OutgoingMessage], [String]).self)
        let sender = Task { [producer] in
            for await (batch, ids) in tickStream {
                let now = ContinuousClock.now
                let sent = LatencyRecords.Sent(instant: now, wallMilliseconds: Int64(Date().timeIntervalSince1970 * 1000),
                                               second: Int((now - producingSince) / .seconds(1)))
                records.sentAt.withLock { map in for id in ids { map[id] = sent } }
                try await producer.send(batch)
            }
        }
        while produced < total {
            let count = min(perTick, total - produced)
            var batch: [OutgoingMessage] = []
            var ids: [String] = []
            let occurredAt = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
            for index in produced..<(produced + count) {
                let clientId = "L\(index)"
                let eventId = "lat-\(index)"
                var json = JSONObjectWriter()
                json.add("eventId", eventId)
                json.add("clientId", clientId)
                json.add("occurredAt", occurredAt)
                json.add("amount", Money(units: 250_000))
                json.add("currency", "EUR")
                batch.append(OutgoingMessage(topic: topic, key: Array(clientId.utf8), value: json.bytes))
                ids.append(eventId)
            }
            for index in 0..<contactsPerTick {
                let person = "K\(tickNumber * contactsPerTick + index)"
                var json = JSONObjectWriter()
                json.add("eventId", "lat-c-\(person)")
                json.add("clientId", person)
                json.add("occurredAt", occurredAt)
                json.add("kind", "call")
                batch.append(OutgoingMessage(topic: contactTopic, key: Array(person.utf8), value: json.bytes))
            }
            tickNumber += 1
            ticks.yield((batch, ids))
            produced += count
            next = next.advanced(by: tick)
            try await Task.sleep(until: next, clock: .continuous)
        }
        ticks.finish()
        try await sender.value
        // What was reached, not what was asked: until the last delivery report.
        let achievedRate = Double(total) / max(0.001, (ContinuousClock.now - producingSince) / .seconds(1))
        let waitDeadline = ContinuousClock.now.advanced(by: .seconds(60))
        while records.latencies.withLock({ $0.count }) < total, ContinuousClock.now < waitDeadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        reader.cancel()
        let measured = records.latencies.withLock { $0.sorted() }
        let measuredStatus = records.statusLatencies.withLock { $0.map(\.milliseconds).sorted() }
        let measuredPublished = records.untilPublished.withLock { $0.sorted() }
        let peak = stack.workerPeakMemory()
        // Where the CPU went over the whole run (both phases), before the workers stop.
        let workerNames = ["purchase-worker"] + (1..<replicas).map { "purchase-worker-\($0 + 1)" }
        let purchaseCPU = workerNames.compactMap(stack.workerCPUSeconds).reduce(0, +)
        let contactCPU = stack.workerCPUSeconds("contact-worker") ?? .nan
        let ownCPU = LocalStack.cpuSeconds(ofProcess: getpid()) ?? .nan
        await outputConsumer.close()
        await producer.close()
        let exit = await stack.stopWorkers()
        await stack.shutdown()

        func percentile(_ p: Double, of values: [Double]? = nil) -> Double {
            let values = values ?? measured
            return values.isEmpty ? .nan : values[min(values.count - 1, Int(Double(values.count) * p))]
        }
        print("")
        let storeName = stack.postgres == nil ? "SQLite" : "PostgreSQL"
        print("purchase-worker benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, contact-worker beside it, \(storeName) store, "
            + "\(replicas) purchase-worker replica\(replicas == 1 ? "" : "s"))")
        print(String(format: "  sustained throughput   %.0f events/s  (%d events, %d clients, %d partitions, %@)", sustained, events, clients, partitions, storeName))
        if let peerResult {
            print(String(format: "  Python worker          %.0f events/s  (same topic, same broker, this run; peak memory %.1f MiB, CPU %.1f s)",
                         peerResult.eventsPerSecond, Double(peerResult.peakBytes) / 1_048_576, peerResult.cpuSeconds))
            print(String(format: "  ratio to Python        %.2f×  (purchase-worker events/s ÷ Python worker events/s)", sustained / peerResult.eventsPerSecond))
            if let floorResult {
                print(String(format: "  SQLite floor           %.0f events/s  (the Python worker's SQL alone, in C: %.1f µs CPU per event; %.2f× the Python worker is the most a worker storing what it stores, 1,000 events per commit, can reach)",
                             floorResult.eventsPerSecond, floorResult.cpuMicrosecondsPerEvent, floorResult.eventsPerSecond / peerResult.eventsPerSecond))
            } else if let floorProblem {
                print("  SQLite floor           not measured: \(floorProblem)")
            }
        }
        print(String(format: "  purchase → task        p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms  (%d of %d purchases at %d/s asked, %.0f/s reached; %d contacts/s)",
                     percentile(0.50), percentile(0.90), percentile(0.99), measured.last ?? .nan, measured.count, total, rate, achievedRate, contactRate))
        print(String(format: "  purchase → status      p50 %.1f ms, p90 %.1f ms, p99 %.1f ms  (the client-status event, same transaction)",
                     percentile(0.50, of: measuredStatus), percentile(0.90, of: measuredStatus), percentile(0.99, of: measuredStatus)))
        print(String(format: "    of which published   p50 %.0f ms, p90 %.0f ms, p99 %.0f ms  (send → the relay's publish, by the output message's timestamp; the rest is the reader's fetch)",
                     percentile(0.50, of: measuredPublished), percentile(0.90, of: measuredPublished), percentile(0.99, of: measuredPublished)))
        print("      p99 by second      " + records.statusP99BySecond().map { String(format: "%.0f", $0) }.joined(separator: ", ") + " ms  (purchases sent in each second of the phase)")
        print("  worker peak memory     \(peak.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "unknown") (VmHWM\(replicas > 1 ? ", first replica" : ""))")
        print(String(format: "  CPU, whole run          purchase-worker%@ %.1f s, contact-worker %.1f s, this process (embedded broker, producer, readers) %.1f s",
                     replicas > 1 ? "s" : "", purchaseCPU, contactCPU, ownCPU))
        print("  worker exit status     \(exit) after SIGTERM")
    }

    /// The store, once the first worker created it (SQLite) or it is migrated (PostgreSQL).
    private func waitForStore(_ stack: LocalStack) async throws -> any ClientStore {
        if stack.postgres == nil {
            for _ in 0..<200 {
                if FileManager.default.fileExists(atPath: stack.databasePath) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let store = try stack.store()
        try await store.waitUntilReady()
        return store
    }

    /// Reads until every assigned partition is at its end. A quiet spell is no proof of that: after
    /// 500 ms without a message the reader used to start measuring with part of phase 1's output
    /// still ahead of it, and counted the time it took to read that as the first purchases' latency.
    private func skipExisting(_ consumer: KafkaConsumer) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < deadline {
            _ = try await consumer.poll(maxMessages: 10_000, maxWait: .milliseconds(200))
            let assigned = Set(consumer.assignment)
            if !assigned.isEmpty, assigned.isSubset(of: consumer.partitionsAtEnd) { return }
        }
        throw ValidationError("the benchmark's reader did not reach the end of the output topics within 60 s")
    }
}

/// What the latency phase's sender and reader share.
private final class LatencyRecords: Sendable {
    /// When a purchase was sent: on the continuous clock for its latency, and on the wall clock to
    /// split it at the output message's timestamp (taken by the relay's producer when it
    /// published): until published, then until read.
    struct Sent: Sendable {
        var instant: ContinuousClock.Instant
        var wallMilliseconds: Int64
        /// Whole seconds since the phase began sending.
        var second: Int
    }

    /// When each purchase was sent, by its event id.
    let sentAt = Mutex<[String: Sent]>([:])
    let untilPublished = Mutex<[Double]>([])
    /// Purchase → `welcome_new_client` task, in milliseconds.
    let latencies = Mutex<[Double]>([])
    /// Purchase → `client-status` event, in milliseconds, with the second of the phase in which
    /// the purchase was sent.
    let statusLatencies = Mutex<[(second: Int, milliseconds: Double)]>([])

    /// The p99 of purchase → `client-status` for each second of the phase, in order.
    func statusP99BySecond() -> [Double] {
        let bySecond = Dictionary(grouping: statusLatencies.withLock { $0 }, by: \.second)
        return bySecond.keys.sorted().map { second in
            let values = bySecond[second]!.map(\.milliseconds).sorted()
            return values[min(values.count - 1, Int(Double(values.count) * 0.99))]
        }
    }
}
