import ClienteleDomain

/// What one reader applying every input event in event-time order would publish: the reference
/// the workers' outputs are checked against, whichever worker runs ahead, restarts or replays.
///
/// Events are taken in ``EventTimeKey`` order (time, then contacts before purchases, then each
/// stream's own order), applied by the same ``ClientRules`` the workers use, and every client is
/// judged by the churn policy at `judgedThrough` at the end (as the churn-worker last did). A task
/// id seen before is not published again, as in the store.
public struct ReferenceReplay: Sendable {
    /// The published outputs, by id.
    public var statusChanges: [String: StatusChange] = [:]
    public var tasks: [String: FollowUpTask] = [:]
    public var churnRisks: [String: ChurnRisk] = [:]
    /// Held back by a policy: task id → reason.
    public var suppressed: [String: String] = [:]
    /// Clients who asked to be erased (their outputs depend on when the erasure was applied).
    public var erased: Set<String> = []
    /// The final state of every client not erased.
    public var clients: [String: ClientState] = [:]

    public init(purchases: [PurchaseEvent], contacts: [ContactEvent], rules: ClientRules, judgedThrough: Timestamp?) {
        var order: [(key: EventTimeKey, event: InputEvent)] = []
        order.reserveCapacity(purchases.count + contacts.count)
        for (index, event) in purchases.enumerated() {
            order.append((EventTimeKey(occurredAt: event.occurredAt, stream: .purchases, sequence: Int64(index)), .purchase(event)))
        }
        for (index, event) in contacts.enumerated() {
            order.append((EventTimeKey(occurredAt: event.occurredAt, stream: .contacts, sequence: Int64(index)), .contact(event)))
        }
        order.sort { $0.key < $1.key }
        var lastTasks: [String: [FollowUpTask.Kind: Timestamp]] = [:]
        var days: [String: Set<Int>] = [:]
        var seenEvents = Set<String>()
        for (_, event) in order {
            guard seenEvents.insert(event.eventId).inserted else { continue }
            let id = event.clientId
            guard !erased.contains(id) else { continue }
            var client = clients[id] ?? ClientState(clientId: id)
            var taskTimes = lastTasks[id] ?? [:]
            let knownDays = days[id] ?? []
            let effects = rules.apply(event, to: &client, lastTaskAt: &taskTimes) { knownDays.contains($0) }
            lastTasks[id] = taskTimes
            clients[id] = client
            record(effects, days: &days)
        }
        if let judgedThrough {
            for id in clients.keys.sorted() {
                var client = clients[id]!
                var taskTimes = lastTasks[id] ?? [:]
                if let due = client.nextReviewAt, due <= judgedThrough {
                    record(rules.review(&client, now: judgedThrough, lastTaskAt: &taskTimes), days: &days)
                }
                clients[id] = client
            }
        }
    }

    private mutating func record(_ effects: [ClientEffect], days: inout [String: Set<Int>]) {
        for effect in effects {
            switch effect {
            case .statusChanged(let change): statusChanges[change.eventId] = change
            case .task(let task):
                if tasks[task.taskId] == nil, suppressed[task.taskId] == nil { tasks[task.taskId] = task }
            case .taskSuppressed(let task, let reason):
                if suppressed[task.taskId] == nil { suppressed[task.taskId] = reason }
            case .churnRisk(let risk): churnRisks[risk.eventId] = risk
            case .purchaseDay(let clientId, let day, _): days[clientId, default: []].insert(day)
            case .erased(let clientId, _, _):
                erased.insert(clientId)
                clients[clientId] = nil
            case .convertedPurchase, .rejected:
                continue
            }
        }
    }

    /// The outputs of clients not erased.
    public var comparable: ReferenceReplay {
        var copy = self
        copy.statusChanges = statusChanges.filter { !erased.contains($0.value.clientId) }
        copy.tasks = tasks.filter { !erased.contains($0.value.clientId) }
        copy.churnRisks = churnRisks.filter { !erased.contains($0.value.clientId) }
        return copy
    }
}
