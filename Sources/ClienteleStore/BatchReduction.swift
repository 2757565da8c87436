import ClienteleDomain

/// An input event with its place in event time and the partition it was read from.
struct PlacedEvent: Sendable {
    var key: EventTimeKey
    var partition: Int32
    var event: InputEvent
}

/// The backend-neutral heart of ``ClientStore/apply(_:rules:)``: the due events applied to their
/// clients in event-time order by ``ClientRules``, and what each caused. A backend loads what it
/// needs before (clients, erased ids, the newest stored tasks) and writes ``EffectRows`` after;
/// both backends share this, so they cannot drift apart in what an event does.
struct BatchReduction {
    struct Erasure: Sendable {
        var clientId: String
        var at: Timestamp
        var causedBy: String
    }

    /// The clients concerned, as loaded, then as the events left them (erased ones removed).
    var clients: [String: ClientState]
    /// Erased clients (before the batch and by it): their events are ignored.
    var erased: Set<String>
    /// Everything the events caused, in order.
    private(set) var effects: [ClientEffect] = []
    private(set) var erasures: [Erasure] = []
    /// Events the rules refused when their turn came: their idempotency records go.
    private(set) var rejected: [RejectedEvent] = []
    private(set) var ignoredForErasedClients = 0

    init(clients: [String: ClientState], erased: Set<String>) {
        self.clients = clients
        self.erased = erased
    }

    /// Applies `due` (sorted in event-time order). `lastTasks` holds the newest task of each kind
    /// already loaded for the clients in `tasksLoaded`; for any other client whose churn review
    /// falls due before one of their events, `storedTasks` is asked once. `knownDay` tells whether
    /// the store holds a purchase day of a client (days added by this batch are known here).
    mutating func run(
        _ due: [PlacedEvent], rules: ClientRules, lastTasks loaded: [String: [FollowUpTask.Kind: Timestamp]], tasksLoaded: Set<String>,
        storedTasks: (String) throws -> [FollowUpTask.Kind: Timestamp], knownDay: (String, Int) throws -> Bool
    ) throws {
        var lastTasks = loaded
        var storedTasksLoaded = tasksLoaded
        var daysAdded = Set<PurchaseDayKey>()
        // Most events cause two effects or more (a purchase day, a status change, a task).
        effects.reserveCapacity(effects.count + 2 * due.count)
        for entry in due {
            let event = entry.event
            let clientId = event.clientId
            guard !erased.contains(clientId) else {
                ignoredForErasedClients += 1
                continue
            }
            var client = clients[clientId] ?? ClientState(clientId: clientId)
            if rules.needsReview(client, before: event), storedTasksLoaded.insert(clientId).inserted {
                lastTasks[clientId] = (lastTasks[clientId] ?? [:]).merging(try storedTasks(clientId)) { max($0, $1) }
            }
            var taskTimes = lastTasks[clientId] ?? [:]
            var lookupError: (any Error)?
            let caused = rules.apply(event, to: &client, lastTaskAt: &taskTimes) { day in
                if daysAdded.contains(PurchaseDayKey(clientId: clientId, day: day)) { return true }
                do {
                    return try knownDay(clientId, day)
                } catch {
                    lookupError = error
                    return true
                }
            }
            if let lookupError { throw lookupError }
            if !taskTimes.isEmpty { lastTasks[clientId] = taskTimes }
            clients[clientId] = client
            for effect in caused {
                switch effect {
                case .erased(let id, let at, let causedBy):
                    erased.insert(id)
                    erasures.append(Erasure(clientId: id, at: at, causedBy: causedBy))
                    clients[id] = nil
                case .purchaseDay(let id, let day, _):
                    daysAdded.insert(PurchaseDayKey(clientId: id, day: day))
                case .rejected(let eventId, let rejection):
                    rejected.append(RejectedEvent(
                        stream: event.stream, partition: entry.partition, offset: entry.key.sequence, clientId: clientId,
                        eventId: eventId, encoded: event.encoded, rejection: rejection))
                default:
                    break
                }
            }
            effects += caused
        }
        // Forget erased clients: their earlier effects in this batch go too.
        if !erasures.isEmpty {
            let erased = erased
            effects.removeAll { effect in
                switch effect {
                case .statusChanged(let change): erased.contains(change.clientId)
                case .task(let task), .taskSuppressed(let task, _): erased.contains(task.clientId)
                case .purchaseDay(let clientId, _, _): erased.contains(clientId)
                case .churnRisk(let risk): erased.contains(risk.clientId)
                case .convertedPurchase(let purchase): erased.contains(purchase.clientId)
                case .erased, .rejected: true
                }
            }
        }
    }
}

/// A client's purchase day.
struct PurchaseDayKey: Hashable, Sendable {
    var clientId: String
    var day: Int
}

/// The rows a list of effects writes, in the order produced, for either backend.
struct EffectRows {
    var statusChanges: [StatusChange] = []
    var tasks: [FollowUpTask] = []
    var suppressed: [(task: FollowUpTask, because: String)] = []
    /// Purchase amounts per client and day (summed), in first-seen order.
    var purchaseDays: [(key: PurchaseDayKey, amount: Money)] = []
    var conversions: [ConvertedPurchase] = []
    private let effects: [ClientEffect]

    init(_ effects: [ClientEffect]) {
        self.effects = effects
        var amounts: [PurchaseDayKey: Money] = [:]
        var order: [PurchaseDayKey] = []
        for effect in effects {
            switch effect {
            case .statusChanged(let change): statusChanges.append(change)
            case .task(let task): tasks.append(task)
            case .taskSuppressed(let task, let because): suppressed.append((task, because))
            case .purchaseDay(let clientId, let day, let amount):
                let key = PurchaseDayKey(clientId: clientId, day: day)
                if amounts[key] == nil { order.append(key) }
                amounts[key, default: .zero] += amount
            case .convertedPurchase(let purchase): conversions.append(purchase)
            case .erased, .churnRisk, .rejected: continue
            }
        }
        purchaseDays = order.map { ($0, amounts[$0]!) }
    }

    /// A message for the outbox.
    struct Message {
        var topic: String
        var key: String
        var payload: [UInt8]
        var id: String
    }

    /// The messages to queue, in the order the effects were produced: status changes, churn risks,
    /// and the tasks whose id was new (`newTaskIds`; a task id seen before has the same cause and
    /// is not sent again). Counts them in `outcome`.
    func outbox(newTaskIds: Set<String>, outcome: inout BatchOutcome) -> [Message] {
        queued(newTaskIds: newTaskIds, outcome: &outcome).map(message(of:))
    }

    /// The positions (among the effects) of the messages ``outbox(newTaskIds:outcome:)`` returns,
    /// counted in `outcome` the same way: a writer that binds one message at a time builds each
    /// payload with ``message(of:)`` when it binds it, instead of holding every payload of the batch
    /// (measured at 20,000 new clients per batch: 12 MB of payloads alive at once).
    func queued(newTaskIds: Set<String>, outcome: inout BatchOutcome) -> [Int] {
        var positions: [Int] = []
        for (position, effect) in effects.enumerated() {
            switch effect {
            case .statusChanged(let change):
                outcome.statusChanges += 1
                outcome.tally.transitions[.init(from: change.previousStatus, to: change.status), default: 0] += 1
            case .task(let task) where newTaskIds.contains(task.taskId):
                outcome.tasks += 1
                outcome.tally.tasks[task.kind.rawValue, default: 0] += 1
            case .churnRisk:
                outcome.churnRisks += 1
            case .task, .taskSuppressed, .purchaseDay, .erased, .convertedPurchase, .rejected:
                continue
            }
            positions.append(position)
        }
        return positions
    }

    /// The outbox message of the effect at `position`, one of those ``queued(newTaskIds:outcome:)``
    /// returned.
    func message(of position: Int) -> Message {
        switch effects[position] {
        case .statusChanged(let change):
            Message(topic: OutputTopic.clientStatus, key: change.clientId, payload: change.payload, id: change.eventId)
        case .task(let task):
            Message(topic: OutputTopic.followUpTasks, key: task.clientId, payload: task.payload, id: task.taskId)
        case .churnRisk(let risk):
            Message(topic: OutputTopic.churnRisk, key: risk.clientId, payload: risk.payload, id: risk.eventId)
        case .taskSuppressed, .purchaseDay, .erased, .convertedPurchase, .rejected:
            preconditionFailure("effect \(position) is not queued for publishing")
        }
    }

    /// Counts the suppressed tasks the store recorded for the first time (`newIds`).
    func countSuppressed(newIds: some Sequence<String>, outcome: inout BatchOutcome) {
        let recorded = Set(newIds)
        for (task, because) in suppressed where recorded.contains(task.taskId) {
            outcome.suppressedTasks += 1
            outcome.tally.suppressed[.init(kind: task.kind.rawValue, reason: because), default: 0] += 1
        }
    }
}

extension BatchReduction {
    /// The clients whose stored review time falls before one of their events in `due`: their
    /// newest stored tasks are needed for the catch-up review (load them up front).
    static func reviewedSoon(_ clients: [String: ClientState], by due: [PlacedEvent]) -> [String] {
        var latestEvent: [String: Timestamp] = [:]
        for entry in due { latestEvent[entry.event.clientId] = max(latestEvent[entry.event.clientId] ?? entry.key.occurredAt, entry.key.occurredAt) }
        return clients.values.filter { client in
            guard let next = client.nextReviewAt, let latest = latestEvent[client.clientId] else { return false }
            return next < latest
        }.map(\.clientId)
    }
}
