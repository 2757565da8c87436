/// Every rule that changes a client, for events of both streams applied in event-time order.
///
/// Before an event, the churn policy judges the client up to the event's time: a client whose
/// threshold fell before it lapses at that moment (with the status change, `churn-risk` event and
/// task it brings), and the event then finds them lapsed — a purchase months after the last one
/// reactivates them with `welcome_back`, a complaint is judged for an at-risk client, not a
/// regular one. So a client's outputs do not depend on whether the churn-worker swept in between:
/// applied in event-time order, the same events give the same outputs.
public struct ClientRules: Sendable, Equatable {
    public var purchases: PurchaseRules
    public var contacts: ContactRules
    public var churn: ChurnPolicy
    /// A task caused before this moment is history, not news: recorded as suppressed
    /// (``StaleTasks/reason``), not published. Nil: no task is too old (a replay on the event clock).
    public var staleBefore: Timestamp?

    /// The defaults of every rule, with the built-in `general` sector and no fitted model.
    public init(
        purchases: PurchaseRules = PurchaseRules(), contacts: ContactRules = ContactRules(),
        churn: ChurnPolicy = ChurnPolicy(rules: RecencyRules(sector: .general), models: nil), staleBefore: Timestamp? = nil
    ) {
        self.purchases = purchases
        self.contacts = contacts
        self.churn = churn
        self.staleBefore = staleBefore
    }

    /// Whether the client must be judged before `event` (a review falls due before it): the
    /// caller then passes the client's newest tasks in `lastTaskAt`.
    public func needsReview(_ client: ClientState, before event: InputEvent) -> Bool {
        guard let due = client.nextReviewAt else { return false }
        return due < event.occurredAt && !event.isErasure
    }

    /// Applies one event to its client: the churn judgement up to the event first (when a review
    /// falls due before it), then the event's own rules, then the purchase day's totals; sets the
    /// client's next review.
    ///
    /// - Parameters:
    ///   - lastTaskAt: the newest task of each kind created for the client so far (sent or
    ///     suppressed), for the churn cooldown; updated with the tasks this event causes.
    ///   - knownPurchaseDay: whether the client already bought on a day, asked only for a late
    ///     purchase older than the days the client's totals keep (``PurchaseDayTotals/recentDays``).
    public func apply(
        _ event: InputEvent, to client: inout ClientState, lastTaskAt: inout [FollowUpTask.Kind: Timestamp],
        knownPurchaseDay: (Int) -> Bool
    ) -> [ClientEffect] {
        var effects: [ClientEffect] = []
        if needsReview(client, before: event) {
            // Everything that happened strictly before the event.
            effects += churn.review(&client, now: Timestamp(millisecondsSinceEpoch: event.occurredAt.millisecondsSinceEpoch - 1),
                                    lastTaskAt: lastTaskAt)
        }
        switch event {
        case .purchase(let purchase):
            effects += purchases.apply(purchase, to: &client)
            for case .purchaseDay(_, let day, let amount) in effects {
                client.purchaseDays.add(day: day, amount: amount, isNewDay: client.purchaseDays.isNew(day, known: knownPurchaseDay))
            }
        case .contact(let contact):
            effects += contacts.apply(contact, to: &client)
        }
        client.nextReviewAt = churn.nextReview(for: client)
        effects = StaleTasks.enforce(effects, before: staleBefore)
        Self.note(effects, in: &lastTaskAt)
        return effects
    }

    /// Reviews the client at `now` (a churn sweep), keeping `lastTaskAt` current.
    public func review(_ client: inout ClientState, now: Timestamp, lastTaskAt: inout [FollowUpTask.Kind: Timestamp]) -> [ClientEffect] {
        let effects = StaleTasks.enforce(churn.review(&client, now: now, lastTaskAt: lastTaskAt), before: staleBefore)
        Self.note(effects, in: &lastTaskAt)
        return effects
    }

    static func note(_ effects: [ClientEffect], in lastTaskAt: inout [FollowUpTask.Kind: Timestamp]) {
        for effect in effects {
            switch effect {
            case .task(let task), .taskSuppressed(let task, _):
                lastTaskAt[task.kind] = max(lastTaskAt[task.kind] ?? task.createdAt, task.createdAt)
            default:
                continue
            }
        }
    }
}

/// History is not news: a task whose cause is older than the deployment's maximum task age (on its
/// clock) is recorded as suppressed with the reason `stale` and not published — a first load of two
/// years of history does not flood the CRM with welcome calls due two years ago. Status changes
/// and churn-risk events are facts, and are published whatever their age. A task already held back
/// for another reason (withdrawn consent) keeps that reason.
public enum StaleTasks {
    public static let reason = "stale"

    public static func enforce(_ effects: [ClientEffect], before cutoff: Timestamp?) -> [ClientEffect] {
        guard let cutoff else { return effects }
        var effects = effects
        for index in effects.indices {
            if case .task(let task) = effects[index], task.createdAt < cutoff { effects[index] = .taskSuppressed(task, reason: reason) }
        }
        return effects
    }
}
