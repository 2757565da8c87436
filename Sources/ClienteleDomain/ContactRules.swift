/// The contact-driven rules: prospects and their temperature, activity, complaints,
/// satisfaction, consent and erasure.
///
/// - Someone known only from contacts is a `prospect`. They are `hot` when at least
///   `hotQualificationCount` (3) of budget, authority, need and timing are known to be met, or
///   when their last inbound inquiry is at most `hotInquiryWindowSeconds` (14 days) older than the
///   newest event seen for them; otherwise `cold`. A temperature change is a status event; turning
///   hot creates `prospect_follow_up`.
/// - `service_use` is activity, like a purchase: it brings a lapsed client back to their standing
///   status. Every contact is tallied by kind and channel.
/// - A complaint creates `complaint_follow_up`, due after `complaintSLASeconds` (24 h); `urgent` for
///   a `regular` client, a high-value client (total purchases ≥ `highValueAmount`), or a repeated
///   complaint within `repeatedComplaintWindowSeconds` (30 days); `high` otherwise.
/// - A satisfaction score ≤ `lowSatisfaction` (2 of 5) creates `satisfaction_recovery`.
/// - Consent: the latest `consent_granted`/`consent_withdrawn` wins; see ``ConsentPolicy``.
/// - `erasure_request`: the client's data is forgotten (``ClientEffect/erased(clientId:at:causedBy:)``).
public struct ContactRules: Sendable, Equatable {
    public var hotQualificationCount: Int
    public var hotInquiryWindowSeconds: Int64
    public var complaintSLASeconds: Int64
    public var repeatedComplaintWindowSeconds: Int64
    public var highValueAmount: Money
    public var lowSatisfaction: Int
    /// Seconds after turning hot at which a prospect follow-up is due. Default 1 day.
    public var prospectFollowUpDueSeconds: Int64
    /// Seconds after a low score at which satisfaction recovery is due. Default 2 days.
    public var satisfactionRecoveryDueSeconds: Int64
    /// Purchase rules, for the standing status a reactivated client returns to.
    public var purchaseRules: PurchaseRules

    public init(
        hotQualificationCount: Int = 3, hotInquiryWindowSeconds: Int64 = 14 * 86_400,
        complaintSLASeconds: Int64 = 24 * 3600, repeatedComplaintWindowSeconds: Int64 = 30 * 86_400,
        highValueAmount: Money = Money(units: 5000 * Money.scale), lowSatisfaction: Int = 2,
        prospectFollowUpDueSeconds: Int64 = 86_400, satisfactionRecoveryDueSeconds: Int64 = 2 * 86_400,
        purchaseRules: PurchaseRules = PurchaseRules()
    ) {
        self.hotQualificationCount = hotQualificationCount
        self.hotInquiryWindowSeconds = hotInquiryWindowSeconds
        self.complaintSLASeconds = complaintSLASeconds
        self.repeatedComplaintWindowSeconds = repeatedComplaintWindowSeconds
        self.highValueAmount = highValueAmount
        self.lowSatisfaction = lowSatisfaction
        self.prospectFollowUpDueSeconds = prospectFollowUpDueSeconds
        self.satisfactionRecoveryDueSeconds = satisfactionRecoveryDueSeconds
        self.purchaseRules = purchaseRules
    }

    /// Checks the rules make sense; the message says what to fix.
    public func validate() throws(ConfigurationProblem) {
        guard (1...4).contains(hotQualificationCount) else { throw ConfigurationProblem("hotQualificationCount must be 1 to 4") }
        guard hotInquiryWindowSeconds > 0 else { throw ConfigurationProblem("the hot inquiry window must be positive") }
        guard complaintSLASeconds > 0 else { throw ConfigurationProblem("the complaint SLA must be positive") }
        guard repeatedComplaintWindowSeconds > 0 else { throw ConfigurationProblem("the repeated-complaint window must be positive") }
        guard highValueAmount.units > 0 else { throw ConfigurationProblem("the high-value amount must be positive") }
        guard (1...4).contains(lowSatisfaction) else { throw ConfigurationProblem("the low-satisfaction score must be 1 to 4") }
        try purchaseRules.validate()
    }

    /// Applies one accepted contact event to the client and returns what it caused.
    public func apply(_ event: ContactEvent, to client: inout ClientState) -> [ClientEffect] {
        if event.kind == .erasureRequest {
            client = ClientState(clientId: client.clientId)
            return [.erased(clientId: event.clientId, at: event.occurredAt, causedBy: event.eventId)]
        }
        client.noteEventTime(event.occurredAt)
        client.contacts.tally(kind: event.kind.rawValue, channel: event.channel, at: event.occurredAt)
        if let qualification = event.qualification { client.contacts.record(qualification, at: event.occurredAt) }
        var effects: [ClientEffect] = []

        switch event.kind {
        case .consentGranted, .consentWithdrawn:
            // The latest statement wins; two at the same instant count as withdrawn (the safe reading).
            client.contacts.recordConsent(event.kind == .consentGranted, at: event.occurredAt)
        case .serviceUse:
            client.contacts.lastServiceUseAt = max(client.contacts.lastServiceUseAt ?? event.occurredAt, event.occurredAt)
            effects += reactivateIfLapsed(&client, by: event)
        case .inquiry where event.direction != .outbound:
            client.contacts.lastInboundInquiryAt = max(client.contacts.lastInboundInquiryAt ?? event.occurredAt, event.occurredAt)
        case .complaint:
            effects.append(.task(complaintTask(for: event, client: &client)))
        default:
            break
        }
        if let score = event.satisfaction {
            client.contacts.lastSatisfaction = .latest(client.contacts.lastSatisfaction, Fact(score, at: event.occurredAt))
            if score <= lowSatisfaction {
                effects.append(.task(task(
                    .satisfactionRecovery, .high, client: client, event: event,
                    due: event.occurredAt.adding(seconds: satisfactionRecoveryDueSeconds), reason: "satisfaction_\(score)_of_5")))
            }
        }
        effects += updateProspect(&client, by: event)
        return ConsentPolicy.enforce(effects, for: client)
    }

    /// The temperature a prospect has now.
    public func temperature(of client: ClientState) -> Temperature {
        if client.contacts.qualifiedCount >= hotQualificationCount { return .hot }
        if let inquiry = client.contacts.lastInboundInquiryAt, let newest = client.lastEventAt,
           newest.millisecondsSinceEpoch - inquiry.millisecondsSinceEpoch <= hotInquiryWindowSeconds * 1000 {
            return .hot
        }
        return .cold
    }

    private func updateProspect(_ client: inout ClientState, by event: ContactEvent) -> [ClientEffect] {
        guard client.purchaseCount == 0, client.status == nil || client.status == .prospect else { return [] }
        let previousStatus = client.status
        let previous = client.temperature
        let now = temperature(of: client)
        guard previousStatus == nil || previous != now else { return [] }
        client.status = .prospect
        client.temperature = now
        client.statusChangedAt = event.occurredAt
        var effects: [ClientEffect] = [.statusChanged(StatusChange(
            clientId: client.clientId, status: .prospect, previousStatus: previousStatus, changedAt: event.occurredAt,
            reason: previousStatus == nil ? "first_contact" : "temperature_\(now.rawValue)", causedBy: event.eventId,
            purchaseCount: 0, temperature: now))]
        if now == .hot {
            effects.append(.task(task(
                .prospectFollowUp, .high, client: client, event: event,
                due: event.occurredAt.adding(seconds: prospectFollowUpDueSeconds),
                reason: client.contacts.qualifiedCount >= hotQualificationCount ? "bant_qualified" : "recent_inbound_inquiry")))
        }
        return effects
    }

    private func reactivateIfLapsed(_ client: inout ClientState, by event: ContactEvent) -> [ClientEffect] {
        guard let previous = client.status, previous.isLapsed, client.purchaseCount > 0,
              let lapsedAt = client.statusChangedAt, event.occurredAt > lapsedAt else { return [] }
        let standing = purchaseRules.standingStatus(forPurchaseCount: client.purchaseCount)
        client.status = standing
        client.statusChangedAt = event.occurredAt
        return [.statusChanged(StatusChange(
            clientId: client.clientId, status: standing, previousStatus: previous, changedAt: event.occurredAt,
            reason: "reactivated_by_service_use", causedBy: event.eventId, purchaseCount: client.purchaseCount))]
    }

    private func complaintTask(for event: ContactEvent, client: inout ClientState) -> FollowUpTask {
        let window = repeatedComplaintWindowSeconds * 1000
        let repeated = client.contacts.lastComplaintAt.map {
            abs($0.millisecondsSinceEpoch - event.occurredAt.millisecondsSinceEpoch) <= window
        } ?? false
        client.contacts.complaintCount += 1
        client.contacts.lastComplaintAt = max(client.contacts.lastComplaintAt ?? event.occurredAt, event.occurredAt)
        let urgent: String? =
            client.status == .regular ? "regular_client"
            : client.totalAmount >= highValueAmount ? "high_value_client"
            : repeated ? "repeated_complaint" : nil
        return task(
            .complaintFollowUp, urgent == nil ? .high : .urgent, client: client, event: event,
            due: event.occurredAt.adding(seconds: complaintSLASeconds), reason: urgent ?? "complaint")
    }

    private func task(
        _ kind: FollowUpTask.Kind, _ priority: FollowUpTask.Priority, client: ClientState, event: ContactEvent,
        due: Timestamp, reason: String
    ) -> FollowUpTask {
        FollowUpTask(
            taskId: StableID.make("task", kind.rawValue, client.clientId, event.eventId), clientId: client.clientId,
            kind: kind, priority: priority, dueAt: due, createdAt: event.occurredAt, reason: reason, causedBy: event.eventId)
    }
}
