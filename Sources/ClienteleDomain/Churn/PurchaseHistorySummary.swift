/// One client's purchase history as the buy-till-you-die models see it, as of a calibration end.
///
/// Purchases on the same day are merged (values summed). `x` is the number of repeat purchase
/// days (distinct days − 1), `tx` the weeks from the first to the last purchase day, `T` the weeks
/// from the first purchase day to the calibration end; `meanRepeatValue` the mean value of the
/// repeat purchase days (the first day left out), nil when `x` is 0.
public struct PurchaseHistorySummary: Sendable, Hashable {
    public var x: Double
    public var tx: Double
    public var T: Double
    public var meanRepeatValue: Double?

    public init(x: Double, tx: Double, T: Double, meanRepeatValue: Double? = nil) {
        self.x = x
        self.tx = tx
        self.T = T
        self.meanRepeatValue = meanRepeatValue
    }

    /// Builds the summary from purchase days (days since the epoch, with each day's value) up to
    /// and including `calibrationEndDay`; nil if there is no purchase by then.
    public static func from(purchases: [(day: Int, value: Double)], calibrationEndDay: Int) -> PurchaseHistorySummary? {
        var byDay: [Int: Double] = [:]
        for purchase in purchases where purchase.day <= calibrationEndDay {
            byDay[purchase.day, default: 0] += purchase.value
        }
        let days = byDay.keys.sorted()
        guard let first = days.first, let last = days.last else { return nil }
        let repeatValues = days.dropFirst().map { byDay[$0]! }
        return PurchaseHistorySummary(
            x: Double(days.count - 1), tx: Double(last - first) / 7, T: Double(calibrationEndDay - first) / 7,
            meanRepeatValue: repeatValues.isEmpty ? nil : repeatValues.reduce(0, +) / Double(repeatValues.count))
    }
}
