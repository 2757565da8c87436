/// The contract's topic names, with the deployment's prefix (`CLIENTELE_TOPIC_PREFIX`) applied.
public struct TopicNames: Sendable, Equatable {
    public var prefix: String

    public init(prefix: String = "") { self.prefix = prefix }

    public static let purchases = "purchases"
    public static let contacts = "contacts"
    public static let clientStatus = "client-status"
    public static let followUpTasks = "follow-up-tasks"
    public static let churnRisk = "churn-risk"

    /// Every topic of the contract, logical names.
    public static let all = [
        purchases, contacts, clientStatus, followUpTasks, churnRisk,
        deadLetter(of: purchases), deadLetter(of: contacts),
    ]

    /// The dead-letter topic of an input topic (logical names).
    public static func deadLetter(of topic: String) -> String { topic + ".dlq" }

    /// The real topic name of a logical one.
    public func resolve(_ logical: String) -> String { prefix + logical }
}

/// Names of the small values the workers keep in the store's settings.
public enum StoreSettingNames {
    /// The input topics' partition count, recorded by the event workers after checking that both
    /// topics have it (read by the churn-worker for the streams' frontier).
    public static let partitions = "streams.partitions"
    /// The furthest moment the churn-worker (any replica) has judged every due client at (RFC 3339).
    public static let churnJudgedThrough = "churn.judged_through"
    /// The clock the churn-worker judges by (`wall` or `event`).
    public static let churnClock = "churn.clock"
}
