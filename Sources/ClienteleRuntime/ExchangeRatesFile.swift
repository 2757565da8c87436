import ClienteleDomain
import Foundation
import Yams

/// The exchange rates a deployment converts purchases with, read from `config/exchange-rates.yaml`
/// (or the file `CLIENTELE_EXCHANGE_RATES_FILE` names):
///
/// ```yaml
/// rates:            # units of the reporting currency one unit buys, from a day on
///   USD:
///     - from: 2026-01-01
///       rate: 0.92
///     - from: 2026-06-01
///       rate: 0.9
/// ```
///
/// Every entry is validated; a problem names the file, the currency and what to fix.
enum ExchangeRatesFile {
    static func load(path: String, reporting: Currency?) throws -> ExchangeRates {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationProblem("the exchange rates file '\(path)' cannot be read (set CLIENTELE_EXCHANGE_RATES_FILE)")
        }
        do {
            return try parse(String(decoding: data, as: UTF8.self), reporting: reporting)
        } catch let problem as ConfigurationProblem {
            throw ConfigurationProblem("\(path): \(problem.message)")
        } catch {
            throw ConfigurationProblem("\(path) is not valid YAML: \(error)")
        }
    }

    static func parse(_ yaml: String, reporting: Currency?) throws -> ExchangeRates {
        var rates = ExchangeRates()
        guard let root = try Yams.compose(yaml: yaml) else { return rates }
        guard let mapping = root.mapping else { throw ConfigurationProblem("the file must be a mapping with a 'rates' key") }
        for (key, _) in mapping where key.string != "rates" {
            throw ConfigurationProblem("unknown key '\(key.string ?? "?")' (the file holds 'rates' only)")
        }
        guard let currencies = mapping["rates"] else { return rates }
        guard let byCurrency = currencies.mapping else { throw ConfigurationProblem("'rates' must map currency codes to lists of rates") }
        for (codeNode, entries) in byCurrency {
            let code = codeNode.string ?? ""
            guard let currency = Currency(code: code) else {
                throw ConfigurationProblem("'\(code)' is not an active ISO 4217 currency code")
            }
            if currency == reporting { throw ConfigurationProblem("\(code) is the reporting currency: it needs no rate") }
            guard let list = entries.sequence, !list.isEmpty else {
                throw ConfigurationProblem("\(code) must list its rates, each with 'from' (a date) and 'rate'")
            }
            for entry in list {
                guard let fields = entry.mapping else { throw ConfigurationProblem("\(code): each rate is a mapping with 'from' and 'rate'") }
                for (name, _) in fields where !["from", "rate"].contains(name.string ?? "") {
                    throw ConfigurationProblem("\(code): unknown key '\(name.string ?? "?")' (a rate has 'from' and 'rate')")
                }
                guard let fromText = fields["from"]?.string, let from = Timestamp(rfc3339: fromText + "T00:00:00Z") else {
                    throw ConfigurationProblem("\(code): 'from' must be a date such as 2026-01-01")
                }
                guard let rateText = fields["rate"]?.string, let rate = ExchangeRate(decimal: rateText) else {
                    throw ConfigurationProblem("\(code) from \(fromText): 'rate' must be a positive number with at most 8 decimals")
                }
                try rates.add(currency, from: from.day, rate: rate)
            }
        }
        return rates
    }
}
