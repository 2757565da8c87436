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
    /// Purchase history by distinct UTC day (same-day purchases merged), kept by the store from
    /// the purchase days it records: what the churn models read.
    public var purchaseDays = PurchaseDayTotals()
    /// Interactions, qualification, complaints, satisfaction and consent.
    public var contacts = ContactProfile()
    /// When the churn rules next need to look at this client (nil: nothing can change by time
    /// alone). Set by every state change, so a sweep reads only the clients that are due.
    public var nextReviewAt: Timestamp?

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

/// A client's purchases counted by distinct day, as the buy-till-you-die models need them.
/// Merged commutatively from (day, amount) facts.
public struct PurchaseDayTotals: Sendable, Equatable {
    /// Distinct purchase days.
    public var count: Int = 0
    public var firstDay: Int?
    public var lastDay: Int?
    /// The value bought on the first day.
    public var firstDayAmount: Money = .zero
    /// The value bought on all days.
    public var totalAmount: Money = .zero
    /// The most recent distinct purchase days (at most ``recentDaysKept``), ascending: the
    /// client's current rhythm, read by the recency rules.
    public var recentDays: [Int] = []

    /// Distinct days kept in ``recentDays``: 20 gaps.
    public static let recentDaysKept = 21

    public init() {}

    /// Whether the client had no purchase on `day` yet: decided from the totals, except for a day
    /// between the first day and the oldest of ``recentDays``, which `known` answers.
    public func isNew(_ day: Int, known: (Int) -> Bool) -> Bool {
        guard let first = firstDay, let last = lastDay else { return true }
        if day < first || day > last { return true }
        if day == first || day == last { return false }
        if let oldestRecent = recentDays.first, day >= oldestRecent { return !recentDays.contains(day) }
        return !known(day)
    }

    /// Adds a purchase amount on a day; `isNewDay` says whether the client had no purchase that day yet.
    public mutating func add(day: Int, amount: Money, isNewDay: Bool) {
        totalAmount += amount
        if isNewDay {
            count += 1
            let position = recentDays.firstIndex { $0 > day } ?? recentDays.endIndex
            if position > 0 || recentDays.count < Self.recentDaysKept {
                recentDays.insert(day, at: position)
                if recentDays.count > Self.recentDaysKept { recentDays.removeFirst() }
            }
        }
        if let first = firstDay {
            if day < first {
                firstDay = day
                firstDayAmount = amount
            } else if day == first {
                firstDayAmount += amount
            }
        } else {
            firstDay = day
            firstDayAmount = amount
        }
        lastDay = max(lastDay ?? day, day)
    }

    /// The model's view as of the end of `asOfDay` (nil before the first purchase).
    public func summary(asOfDay: Int) -> PurchaseHistorySummary? {
        guard let first = firstDay, let last = lastDay, count > 0, asOfDay >= first else { return nil }
        let x = Double(count - 1)
        return PurchaseHistorySummary(
            x: x, tx: Double(last - first) / 7, T: Double(asOfDay - first) / 7,
            meanRepeatValue: count > 1 ? (totalAmount.doubleValue - firstDayAmount.doubleValue) / x : nil)
    }
}
