/// Everything the store keeps about one client or prospect.
///
/// The aggregates are merged commutatively (counts and exact sums add, first/last times take the
/// minimum/maximum), so the same set of events gives the same state in any order, and a late or
/// replayed older event never moves `lastPurchaseAt` backwards.
public struct ClientState: Sendable, Equatable {
    public var clientId: String
    /// Nil for a client seen only through a refund so far.
    public var status: ClientStatus?
    /// Event time of the change that set `status`.
    public var statusChangedAt: Timestamp?
    public var purchaseCount: Int
    public var firstPurchaseAt: Timestamp?
    public var lastPurchaseAt: Timestamp?
    public var totalAmount: Money
    public var totalMargin: Money
    public var totalDiscount: Money
    public var refundCount: Int
    public var refundTotal: Money
    /// The currency of the client's first purchase; amounts are summed as sent.
    public var currency: String?
    /// The newest event time seen for this client.
    public var lastEventAt: Timestamp?
    /// Set while the client is a `prospect`.
    public var temperature: Temperature?
    /// Interactions, qualification, complaints, satisfaction and consent.
    public var contacts = ContactProfile()

    public init(clientId: String) {
        self.clientId = clientId
        self.status = nil
        self.statusChangedAt = nil
        self.purchaseCount = 0
        self.firstPurchaseAt = nil
        self.lastPurchaseAt = nil
        self.totalAmount = .zero
        self.totalMargin = .zero
        self.totalDiscount = .zero
        self.refundCount = 0
        self.refundTotal = .zero
        self.currency = nil
        self.lastEventAt = nil
    }

    /// Mean purchase amount, or nil before the first purchase.
    public var averageAmount: Double? {
        purchaseCount > 0 ? totalAmount.doubleValue / Double(purchaseCount) : nil
    }

    /// The latest purchase or use of a service: what "active" is measured from.
    public var lastActivityAt: Timestamp? {
        switch (lastPurchaseAt, contacts.lastServiceUseAt) {
        case (let purchase?, let service?): max(purchase, service)
        case (let purchase?, nil): purchase
        case (nil, let service): service
        }
    }

    mutating func noteEventTime(_ time: Timestamp) {
        lastEventAt = max(lastEventAt ?? time, time)
    }
}
