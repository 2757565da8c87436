/// Where a client stands in the relationship. Raw values are the contract's wire names.
public enum ClientStatus: String, Sendable, CaseIterable, Codable {
    /// Known only from contacts; has not bought yet.
    case prospect
    /// One purchase.
    case new
    /// Bought again, and recently given their own rhythm.
    case active
    /// Has bought repeatedly (at least the configured count).
    case regular
    /// The last purchase is getting old for this client's rhythm.
    case atRisk = "at_risk"
    /// The last purchase is too old to expect another.
    case passive

    /// True for the statuses a purchase brings a client back from.
    public var isLapsed: Bool { self == .atRisk || self == .passive }
}
