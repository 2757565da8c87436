/// An exchange rate: how many units of the reporting currency one unit of another buys, exact to
/// eight decimals.
public struct ExchangeRate: Sendable, Hashable, CustomStringConvertible {
    /// Hundred-millionths.
    public var units: Int64
    public static let scale: Int64 = 100_000_000

    /// Reads a positive decimal with at most eight decimals (e.g. `0.92`, `1.0835`), else nil.
    public init?(decimal text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0]), whole >= 0, whole < 1_000_000_000,
              parts[0].allSatisfy(\.isASCII) else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else { return nil }
            fraction = value
            for _ in digits.count..<8 { fraction *= 10 }
        }
        units = whole * Self.scale + fraction
        guard units > 0 else { return nil }
    }

    public var description: String {
        var fraction = String(units % Self.scale)
        fraction = String(repeating: "0", count: 8 - fraction.count) + fraction
        while fraction.count > 1, fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(units / Self.scale).\(fraction)"
    }

    /// `amount` in the reporting currency, rounded half away from zero to a ten-thousandth
    /// (saturating at the largest amount).
    public func convert(_ amount: Money) -> Money {
        let product = amount.units.magnitude.multipliedFullWidth(by: UInt64(units))
        let scale = UInt64(Self.scale)
        guard product.high < scale else { return Money(units: amount.units < 0 ? .min : .max) }
        let (quotient, remainder) = scale.dividingFullWidth(product)
        let rounded = remainder * 2 >= scale ? quotient + 1 : quotient
        let magnitude = rounded > UInt64(Int64.max) ? Int64.max : Int64(rounded)
        return Money(units: amount.units < 0 ? -magnitude : magnitude)
    }
}

/// The rates the deployment converts purchases with: per currency, each rate with the day from
/// which it applies. A purchase is converted at the rate in force on the day it happened.
public struct ExchangeRates: Sendable, Equatable {
    /// Per currency code, (first day of application, rate), ascending by day.
    public private(set) var rates: [String: [(day: Int, rate: ExchangeRate)]] = [:]

    public init() {}

    public static func == (lhs: ExchangeRates, rhs: ExchangeRates) -> Bool {
        lhs.rates.keys == rhs.rates.keys && lhs.rates.allSatisfy { code, list in
            let other = rhs.rates[code] ?? []
            return list.count == other.count && zip(list, other).allSatisfy { $0.day == $1.day && $0.rate == $1.rate }
        }
    }

    /// Adds a rate for `currency` applying from `day` (days since 1970-01-01, UTC).
    public mutating func add(_ currency: Currency, from day: Int, rate: ExchangeRate) throws(ConfigurationProblem) {
        var list = rates[currency.code] ?? []
        guard !list.contains(where: { $0.day == day }) else {
            throw ConfigurationProblem("\(currency.code) has two rates from \(Timestamp(day: day).rfc3339.prefix(10))")
        }
        list.append((day, rate))
        list.sort { $0.day < $1.day }
        rates[currency.code] = list
    }

    /// The rate in force for `currency` at `time`, or nil when none applies yet.
    public func rate(for currency: Currency, at time: Timestamp) -> ExchangeRate? {
        guard let list = rates[currency.code] else { return nil }
        let day = time.day
        return list.last { $0.day <= day }?.rate
    }
}

/// Which currency a client's money is kept in.
///
/// With a reporting currency, every purchase is converted to it at the rate in force on its day
/// (a purchase in a currency without a rate is not accepted: `no_exchange_rate`). Without one, a
/// client's first currency is theirs, and a purchase in another is not accepted
/// (`currency_mismatch`): dollars are never added to euros.
public struct CurrencyPolicy: Sendable, Equatable {
    public var reportingCurrency: Currency?
    public var rates: ExchangeRates

    public init(reportingCurrency: Currency? = nil, rates: ExchangeRates = ExchangeRates()) {
        self.reportingCurrency = reportingCurrency
        self.rates = rates
    }

    /// What the worker can refuse on reading a purchase (before it is accepted): a currency
    /// with no rate in force on its day.
    public func check(_ event: PurchaseEvent) throws(EventRejection) {
        guard let reporting = reportingCurrency, event.currency != reporting else { return }
        guard rates.rate(for: event.currency, at: event.occurredAt) != nil else {
            throw EventRejection(.noExchangeRate, "no exchange rate from the purchase's currency to \(reporting.code) on its day")
        }
    }
}

/// A purchase kept in the reporting currency, with what was sent.
public struct ConvertedPurchase: Sendable, Equatable {
    public var clientId: String
    public var eventId: String
    public var occurredAt: Timestamp
    public var kind: PurchaseEvent.Kind
    public var originalAmount: Money
    public var originalCurrency: String
    public var rate: ExchangeRate
    public var amount: Money

    public init(clientId: String, eventId: String, occurredAt: Timestamp, kind: PurchaseEvent.Kind,
                originalAmount: Money, originalCurrency: String, rate: ExchangeRate, amount: Money) {
        self.clientId = clientId
        self.eventId = eventId
        self.occurredAt = occurredAt
        self.kind = kind
        self.originalAmount = originalAmount
        self.originalCurrency = originalCurrency
        self.rate = rate
        self.amount = amount
    }
}
