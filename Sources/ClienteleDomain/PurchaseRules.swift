/// The purchase-driven lifecycle rules and the tasks they create.
///
/// - First purchase → `new` and a `welcome_new_client` task.
/// - Second purchase → `active`; the `regularAfter`-th purchase → `regular`.
/// - A purchase after a client became `at_risk`/`passive` reactivates them (status from their
///   purchase count) with a `welcome_back` task. A purchase that happened *before* they lapsed
///   (a late or replayed event) is counted but reactivates nothing.
/// - An order above `largeOrderAmount`, or above `largeOrderFactor` × the client's own average
///   once they have `minimumHistoryForAverage` purchases, creates `thank_you_large_order`.
/// - A refund adds to the refund totals and changes no status.
/// - Marketing tasks are held back while consent is withdrawn (``ConsentPolicy``).
public struct PurchaseRules: Sendable, Equatable {
    /// Purchase count at which a client becomes `regular`. Default 4.
    public var regularAfter: Int
    /// Absolute threshold of a large order, in the event's currency. Default 1000.
    public var largeOrderAmount: Money
    /// A purchase this many times the client's own average is large. Default 3.
    public var largeOrderFactor: Double
    /// Purchases needed before the client's own average is trusted. Default 3.
    public var minimumHistoryForAverage: Int
    /// Seconds after the purchase at which a welcome task is due. Default 2 days.
    public var welcomeDueAfterSeconds: Int64
    /// Which currency amounts are kept in (a reporting currency and its rates, or each client's own).
    public var currencies: CurrencyPolicy

    public init(
        regularAfter: Int = 4, largeOrderAmount: Money = Money(units: 1000 * Money.scale),
        largeOrderFactor: Double = 3, minimumHistoryForAverage: Int = 3,
        welcomeDueAfterSeconds: Int64 = 2 * 86_400, currencies: CurrencyPolicy = CurrencyPolicy()
    ) {
        self.currencies = currencies
        self.regularAfter = regularAfter
        self.largeOrderAmount = largeOrderAmount
        self.largeOrderFactor = largeOrderFactor
        self.minimumHistoryForAverage = minimumHistoryForAverage
        self.welcomeDueAfterSeconds = welcomeDueAfterSeconds
    }

    /// Checks the rules make sense; the message says what to fix.
    public func validate() throws(ConfigurationProblem) {
        guard regularAfter >= 2 else { throw ConfigurationProblem("regularAfter must be at least 2 (got \(regularAfter))") }
        guard largeOrderAmount.units > 0 else { throw ConfigurationProblem("largeOrderAmount must be positive") }
        guard largeOrderFactor > 1, largeOrderFactor.isFinite else {
            throw ConfigurationProblem("largeOrderFactor must be a number above 1 (got \(largeOrderFactor))")
        }
        guard minimumHistoryForAverage >= 1 else { throw ConfigurationProblem("minimumHistoryForAverage must be at least 1") }
    }

    /// The status a client in good standing has after `count` purchases.
    public func standingStatus(forPurchaseCount count: Int) -> ClientStatus {
        switch count {
        case ...1: .new
        case ..<regularAfter: .active
        default: .regular
        }
    }

    /// Applies one accepted purchase or refund to the client and returns what it caused.
    public func apply(_ event: PurchaseEvent, to client: inout ClientState) -> [ClientEffect] {
        // Money in one currency: the reporting currency, or the client's own.
        if let reporting = currencies.reportingCurrency {
            guard event.currency != reporting else { return applyInClientCurrency(event, to: &client, record: nil) }
            guard let rate = currencies.rates.rate(for: event.currency, at: event.occurredAt) else {
                return [.rejected(eventId: event.eventId, EventRejection(
                    .noExchangeRate, "no exchange rate from the purchase's currency to \(reporting.code) on its day"))]
            }
            var converted = event
            converted.amount = rate.convert(event.amount)
            converted.margin = event.margin.map(rate.convert)
            converted.discount = event.discount.map(rate.convert)
            converted.currency = reporting
            let record = ClientEffect.convertedPurchase(ConvertedPurchase(
                clientId: client.clientId, eventId: event.eventId, occurredAt: event.occurredAt, kind: event.kind,
                originalAmount: event.amount, originalCurrency: event.currency.code, rate: rate, amount: converted.amount))
            return applyInClientCurrency(converted, to: &client, record: record)
        }
        if let own = client.currency, own != event.currency.code {
            return [.rejected(eventId: event.eventId, EventRejection(
                .currencyMismatch, "the purchase's currency differs from the client's first one, and no reporting currency is configured"))]
        }
        return applyInClientCurrency(event, to: &client, record: nil)
    }

    /// Applies a purchase whose amounts are in the client's currency; `record` (what was sent,
    /// for a converted purchase) comes first among the effects.
    private func applyInClientCurrency(_ event: PurchaseEvent, to client: inout ClientState, record: ClientEffect?) -> [ClientEffect] {
        client.noteEventTime(event.occurredAt)
        if event.kind == .refund {
            client.refundCount += 1
            client.refundTotal += event.amount
            if client.currency == nil { client.currency = event.currency.code }
            return record.map { [$0] } ?? []
        }
        var effects: [ClientEffect] = []
        effects.reserveCapacity(4)
        if let record { effects.append(record) }
        effects.append(.purchaseDay(clientId: client.clientId, day: event.occurredAt.day, amount: event.amount))
        let priorCount = client.purchaseCount
        let priorAverage = client.averageAmount
        let previous = client.status

        client.purchaseCount += 1
        client.totalAmount += event.amount
        client.totalMargin += event.margin ?? .zero
        client.totalDiscount += event.discount ?? .zero
        client.firstPurchaseAt = min(client.firstPurchaseAt ?? event.occurredAt, event.occurredAt)
        client.lastPurchaseAt = max(client.lastPurchaseAt ?? event.occurredAt, event.occurredAt)
        if client.currency == nil { client.currency = event.currency.code }

        var next = previous
        var reason = ""
        var reactivated = false
        switch previous {
        case .atRisk?, .passive?:
            if let lapsedAt = client.statusChangedAt, event.occurredAt > lapsedAt {
                next = standingStatus(forPurchaseCount: client.purchaseCount)
                reason = "reactivated_by_purchase"
                reactivated = true
            }
        default:
            next = standingStatus(forPurchaseCount: client.purchaseCount)
            switch next {
            case .new?: reason = "first_purchase"
            case .active?: reason = "repeat_purchase"
            default: reason = "purchase_count_reached_\(regularAfter)"
            }
        }
        if let next, next != previous {
            client.status = next
            client.temperature = nil  // temperature is for prospects only
            client.statusChangedAt = event.occurredAt
            effects.append(.statusChanged(StatusChange(
                clientId: client.clientId, status: next, previousStatus: previous,
                changedAt: event.occurredAt, reason: reason, causedBy: event.eventId,
                purchaseCount: client.purchaseCount)))
        }

        if priorCount == 0 {
            effects.append(.task(task(.welcomeNewClient, .normal, for: event, client: client,
                                      reason: "first_purchase", idParts: [])))
        }
        if reactivated {
            effects.append(.task(task(.welcomeBack, .high, for: event, client: client,
                                      reason: "purchase_after_\(previous?.rawValue ?? "lapse")", idParts: [event.eventId])))
        }
        if event.amount >= largeOrderAmount {
            effects.append(.task(task(.thankYouLargeOrder, .normal, for: event, client: client,
                                      reason: "amount_above_threshold", idParts: [event.eventId])))
        } else if priorCount >= minimumHistoryForAverage, let priorAverage, priorAverage > 0,
                  event.amount.doubleValue >= largeOrderFactor * priorAverage {
            effects.append(.task(task(.thankYouLargeOrder, .normal, for: event, client: client,
                                      reason: "amount_above_own_average", idParts: [event.eventId])))
        }
        return ConsentPolicy.enforce(effects, for: client)
    }

    private func task(
        _ kind: FollowUpTask.Kind, _ priority: FollowUpTask.Priority, for event: PurchaseEvent,
        client: ClientState, reason: String, idParts: [String]
    ) -> FollowUpTask {
        let id = idParts.isEmpty
            ? StableID.make("task", kind.rawValue, client.clientId)
            : StableID.make("task", kind.rawValue, client.clientId, idParts.joined(separator: "\u{1F}"))
        return FollowUpTask(
            taskId: id, clientId: client.clientId, kind: kind, priority: priority,
            dueAt: event.occurredAt.adding(seconds: welcomeDueAfterSeconds),
            createdAt: event.occurredAt, reason: reason, causedBy: event.eventId)
    }
}

/// A setting that cannot be used; the message says what to fix.
public struct ConfigurationProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
