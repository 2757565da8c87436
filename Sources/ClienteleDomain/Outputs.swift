/// A change of a client's status, published on `client-status`.
public struct StatusChange: Sendable, Equatable {
    /// Stable id: the same cause gives the same id.
    public var eventId: String
    public var clientId: String
    public var status: ClientStatus
    public var previousStatus: ClientStatus?
    public var changedAt: Timestamp
    /// Machine-readable reason, e.g. `first_purchase`.
    public var reason: String
    /// The `eventId` of the input event that caused the change.
    public var causedBy: String
    public var purchaseCount: Int
    /// A prospect's temperature (nil for clients).
    public var temperature: Temperature?
    /// P(alive) at the change, when a churn model judged it.
    public var probabilityAlive: Double?
    /// Customer lifetime value at the change, when the models give one.
    public var clv: Double?

    public init(
        clientId: String, status: ClientStatus, previousStatus: ClientStatus?, changedAt: Timestamp,
        reason: String, causedBy: String, purchaseCount: Int, temperature: Temperature? = nil
    ) {
        self.eventId = StableID.make("status", clientId, status.rawValue, temperature?.rawValue ?? "", causedBy)
        self.temperature = temperature
        self.clientId = clientId
        self.status = status
        self.previousStatus = previousStatus
        self.changedAt = changedAt
        self.reason = reason
        self.causedBy = causedBy
        self.purchaseCount = purchaseCount
    }

    /// The JSON value published on `client-status` (key: `clientId`).
    public var payload: [UInt8] {
        var json = JSONObjectWriter()
        json.add("eventId", eventId)
        json.add("clientId", clientId)
        json.add("status", status.rawValue)
        json.add("temperature", temperature?.rawValue)
        json.add("previousStatus", previousStatus?.rawValue)
        json.add("changedAt", changedAt)
        json.add("reason", reason)
        json.add("causedBy", causedBy)
        json.add("purchaseCount", purchaseCount)
        json.add("pAlive", probabilityAlive.map(ChurnRisk.rounded))
        json.add("clv", clv.map(ChurnRisk.rounded))
        return json.bytes
    }
}

/// A client crossed into `at_risk` or `passive`, published on `churn-risk`.
public struct ChurnRisk: Sendable, Equatable {
    /// Stable id: the same lapse (client, level, last activity) gives the same id.
    public var eventId: String
    public var clientId: String
    /// `atRisk` or `passive`.
    public var level: ClientStatus
    /// 1 − P(alive) with a model; without one, the share of the passive limit already elapsed.
    public var risk: Double
    /// Nil when no model judged it (recency rules).
    public var probabilityAlive: Double?
    /// What the company stands to lose: the client's CLV with a model; without one, their
    /// spend per year of relationship.
    public var valueAtRisk: Double
    public var currency: String?
    /// When the sweep detected it.
    public var detectedAt: Timestamp
    /// When the threshold was crossed (at or before `detectedAt`).
    public var crossedAt: Timestamp
    /// `mbgnbd:1998-06-30` (model kind and calibration date) or `rules:own_rhythm` / `rules:sector_<name>`.
    public var model: String

    public init(
        clientId: String, level: ClientStatus, risk: Double, probabilityAlive: Double?, valueAtRisk: Double,
        currency: String?, detectedAt: Timestamp, crossedAt: Timestamp, model: String, lapseOf lastActivity: Timestamp
    ) {
        self.eventId = StableID.make("churn-risk", clientId, level.rawValue, String(lastActivity.millisecondsSinceEpoch))
        self.clientId = clientId
        self.level = level
        self.risk = risk
        self.probabilityAlive = probabilityAlive
        self.valueAtRisk = valueAtRisk
        self.currency = currency
        self.detectedAt = detectedAt
        self.crossedAt = crossedAt
        self.model = model
    }

    /// The JSON value published on `churn-risk` (key: `clientId`).
    public var payload: [UInt8] {
        var json = JSONObjectWriter()
        json.add("eventId", eventId)
        json.add("clientId", clientId)
        json.add("level", level.rawValue)
        json.add("risk", Self.rounded(risk))
        json.add("pAlive", probabilityAlive.map(Self.rounded))
        json.add("valueAtRisk", Self.rounded(valueAtRisk))
        json.add("currency", currency)
        json.add("detectedAt", detectedAt)
        json.add("crossedAt", crossedAt)
        json.add("model", model)
        return json.bytes
    }

    /// Four decimals: enough for probabilities and money, stable bytes on re-publication.
    static func rounded(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }
}

/// Something a person or a system should do about a client, published on `follow-up-tasks`.
public struct FollowUpTask: Sendable, Equatable {
    /// What kind of follow-up. Raw values are the contract's wire names.
    public enum Kind: String, Sendable, CaseIterable {
        case welcomeNewClient = "welcome_new_client"
        case thankYouLargeOrder = "thank_you_large_order"
        case welcomeBack = "welcome_back"
        case prospectFollowUp = "prospect_follow_up"
        case complaintFollowUp = "complaint_follow_up"
        case satisfactionRecovery = "satisfaction_recovery"
        /// At risk and valuable: a person calls.
        case retentionCall = "retention_call"
        /// At risk, lower value: an offer is sent.
        case retentionOffer = "retention_offer"
        /// Passive: included in a reactivation campaign.
        case reactivationCampaign = "reactivation_campaign"

        /// Marketing tasks are suppressed while the client's consent is withdrawn; service tasks
        /// (answering a complaint, recovering an unhappy client) are not.
        public var isMarketing: Bool {
            switch self {
            case .welcomeNewClient, .thankYouLargeOrder, .welcomeBack, .prospectFollowUp,
                 .retentionCall, .retentionOffer, .reactivationCampaign: true
            case .complaintFollowUp, .satisfactionRecovery: false
            }
        }
    }

    public enum Priority: String, Sendable, CaseIterable {
        case low, normal, high, urgent
    }

    /// Deterministic: the same cause yields the same id.
    public var taskId: String
    public var clientId: String
    public var kind: Kind
    public var priority: Priority
    public var dueAt: Timestamp
    public var createdAt: Timestamp
    public var reason: String
    public var causedBy: String

    public init(
        taskId: String, clientId: String, kind: Kind, priority: Priority, dueAt: Timestamp,
        createdAt: Timestamp, reason: String, causedBy: String
    ) {
        self.taskId = taskId
        self.clientId = clientId
        self.kind = kind
        self.priority = priority
        self.dueAt = dueAt
        self.createdAt = createdAt
        self.reason = reason
        self.causedBy = causedBy
    }

    /// The JSON value published on `follow-up-tasks` (key: `clientId`).
    public var payload: [UInt8] {
        var json = JSONObjectWriter()
        json.add("taskId", taskId)
        json.add("clientId", clientId)
        json.add("kind", kind.rawValue)
        json.add("priority", priority.rawValue)
        json.add("dueAt", dueAt)
        json.add("createdAt", createdAt)
        json.add("reason", reason)
        json.add("causedBy", causedBy)
        return json.bytes
    }
}

/// What applying one event to a client produced, besides the new state.
public enum ClientEffect: Sendable, Equatable {
    case statusChanged(StatusChange)
    case task(FollowUpTask)
    /// A task the rules wanted but a policy held back (kept for audit, never published).
    case taskSuppressed(FollowUpTask, reason: String)
    /// The client asked to be forgotten: remove their data, publish a tombstone, ignore them from now on.
    case erased(clientId: String, at: Timestamp, causedBy: String)
    /// A purchase's value on its (UTC) day, for the purchase history the churn models read.
    case purchaseDay(clientId: String, day: Int, amount: Money)
    /// The client crossed a churn threshold (published on `churn-risk`).
    case churnRisk(ChurnRisk)
    /// A purchase kept in the reporting currency: what was sent, for the record.
    case convertedPurchase(ConvertedPurchase)
    /// The event cannot be applied to this client (e.g. another currency than theirs): nothing
    /// else was changed by it, and it goes to its dead-letter topic with the reason.
    case rejected(eventId: String, EventRejection)
}
