import ClienteleDomain
import Foundation
import ClienteleWorkload
import Testing

/// The CDNOW fixtures (see Fixtures/README.md).
enum CDNOW {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The published summary: (id, x, tx, T).
    static func summary() throws -> [(id: Int, history: PurchaseHistorySummary)] {
        let text = try String(contentsOf: directory.appendingPathComponent("cdnow_customers_summary.csv"), encoding: .utf8)
        return text.split(whereSeparator: \.isNewline).dropFirst().map { line in
            let f = line.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
            return (Int(f[0]), PurchaseHistorySummary(x: f[1], tx: f[2], T: f[3]))
        }
    }

    /// The sample's transactions per customer: (day since epoch, value).
    static func transactions() throws -> [Int: [(day: Int, value: Double)]] {
        let text = try String(contentsOf: directory.appendingPathComponent("CDNOW_sample.txt"), encoding: .utf8)
        var result: [Int: [(day: Int, value: Double)]] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\t" })
            let date = String(f[2])
            let stamp = Timestamp(rfc3339: "\(date.prefix(4))-\(date.dropFirst(4).prefix(2))-\(date.suffix(2))T00:00:00Z")!
            result[Int(f[1])!, default: []].append((Int(stamp.millisecondsSinceEpoch / 86_400_000), Double(f[4])!))
        }
        return result
    }

    static let calibrationEndDay = Int(Timestamp(rfc3339: "1997-09-30T00:00:00Z")!.millisecondsSinceEpoch / 86_400_000)
}

@Suite("Buy-till-you-die models")
struct BuyTillYouDieTests {
    let published = BGNBDModel.Parameters(r: 0.242593, alpha: 4.413532, a: 0.792886, b: 2.425754)

    @Test("digamma and ₂F₁ match reference values")
    func specialFunctions() {
        #expect(abs(SpecialFunctions.digamma(1) - -0.5772156649015329) < 1e-13)
        #expect(abs(SpecialFunctions.digamma(0.25) - -4.2274535333762655) < 1e-13)
        #expect(abs(SpecialFunctions.digamma(40.5) - 3.6889054929332334) < 1e-13)
        #expect(abs(SpecialFunctions.hypergeometric2F1(1.5, 2.25, 3.1, 0.6) - 2.58315135976601) < 1e-12)
    }

    @Test("the CDNOW sample, summarised as of 1997-09-30, is exactly the published summary")
    func summariesFromTransactions() throws {
        let transactions = try CDNOW.transactions()
        let published = try CDNOW.summary()
        #expect(published.count == 2357)
        #expect(transactions.count == 2357)
        for (id, expected) in published {
            let built = try #require(PurchaseHistorySummary.from(purchases: transactions[id]!, calibrationEndDay: CDNOW.calibrationEndDay))
            #expect(built.x == expected.x)
            #expect(abs(built.tx - expected.tx) < 0.006)
            #expect(abs(built.T - expected.T) < 0.006)
        }
    }

    @Test("BG/NBD fitted on the CDNOW summary reproduces the published parameters and log-likelihood")
    func bgnbdFit() throws {
        let fit = BGNBDModel.fit(try CDNOW.summary().map(\.history), variant: .bgnbd)
        let p = fit.model.parameters
        #expect(fit.converged)
        #expect(abs(p.r / published.r - 1) < 0.005, "r = \(p.r)")
        #expect(abs(p.alpha / published.alpha - 1) < 0.005, "α = \(p.alpha)")
        #expect(abs(p.a / published.a - 1) < 0.005, "a = \(p.a)")
        #expect(abs(p.b / published.b - 1) < 0.005, "b = \(p.b)")
        #expect(abs(fit.logLikelihood - -9582.426) < 0.1, "LL = \(fit.logLikelihood)")
    }

    @Test("Gamma-Gamma fitted on the CDNOW sample's repeat clients reproduces the published parameters")
    func gammaGammaFit() throws {
        let transactions = try CDNOW.transactions()
        let histories = transactions.values.compactMap {
            PurchaseHistorySummary.from(purchases: $0, calibrationEndDay: CDNOW.calibrationEndDay)
        }
        let fit = GammaGammaModel.fit(histories)
        #expect(fit.clients == 946)
        let p = fit.model.parameters
        #expect(abs(p.p / 6.25 - 1) < 0.01, "p = \(p.p)")
        #expect(abs(p.q / 3.74 - 1) < 0.01, "q = \(p.q)")
        #expect(abs(p.v / 15.44 - 1) < 0.01, "v = \(p.v)")
    }

    /// From scripts/reference/btyd_reference.py (scipy): (x, tx, T, P(alive) BG, E[Y(13)] BG,
    /// P(alive) MBG, E[Y(13)] MBG, LL BG) at the published parameters.
    static let reference: [(Double, Double, Double, Double, Double, Double, Double, Double)] = [
        (0, 0.0, 38.86, 1.000000000000, 0.069811259738, 0.637472531509, 0.044941868634, -0.553807287756),
        (1, 1.71, 38.86, 0.212227461295, 0.074698023536, 0.275604315311, 0.098055552208, -4.470438459966),
        (2, 30.43, 38.86, 0.726609218430, 0.457156863138, 0.774449027154, 0.492372784514, -9.459700696987),
        (5, 35.0, 38.0, 0.846551020202, 1.250205004753, 0.864413635980, 1.287570783269, -17.798229952611),
        (14, 38.0, 39.0, 0.933155870687, 3.617889215723, 0.936968838188, 3.650229144355, -32.954199483049),
        (3, 10.0, 70.0, 0.026516758448, 0.014360725810, 0.032314613378, 0.017606299480, -11.031592116846),
    ]

    @Test("P(alive), expected purchases and the likelihood match scipy to 1e-6")
    func matchesReference() {
        let bg = BGNBDModel(parameters: published, variant: .bgnbd)
        let mbg = BGNBDModel(parameters: published, variant: .mbgnbd)
        for (x, tx, T, pBG, eBG, pMBG, eMBG, ll) in Self.reference {
            let s = PurchaseHistorySummary(x: x, tx: tx, T: T)
            #expect(abs(bg.probabilityAlive(s) - pBG) < 1e-6)
            #expect(abs(bg.expectedPurchases(in: 13, s) - eBG) < 1e-6)
            #expect(abs(mbg.probabilityAlive(s) - pMBG) < 1e-6)
            #expect(abs(mbg.expectedPurchases(in: 13, s) - eMBG) < 1e-6)
            #expect(abs(BGNBDModel.logLikelihood([s], parameters: published, variant: .bgnbd) - ll) < 1e-6)
        }
    }

    @Test("the closed-form age at which P(alive) crosses a threshold is exact")
    func thresholdCrossing() throws {
        for variant in BGNBDModel.Variant.allCases {
            let model = BGNBDModel(parameters: published, variant: variant)
            for (x, tx) in [(1.0, 1.71), (2.0, 30.43), (14.0, 38.0)] {
                let age = try #require(model.ageWhenProbabilityAliveFalls(to: 0.3, PurchaseHistorySummary(x: x, tx: tx, T: 0)))
                #expect(abs(model.probabilityAlive(PurchaseHistorySummary(x: x, tx: tx, T: age)) - 0.3) < 1e-9)
                #expect(model.probabilityAlive(PurchaseHistorySummary(x: x, tx: tx, T: age + 1)) < 0.3)
            }
        }
        let bg = BGNBDModel(parameters: published, variant: .bgnbd)
        #expect(bg.ageWhenProbabilityAliveFalls(to: 0.3, PurchaseHistorySummary(x: 0, tx: 0, T: 10)) == nil)
        // MBG/NBD: one-time buyers fade too.
        let mbg = BGNBDModel(parameters: published, variant: .mbgnbd)
        let age = try #require(mbg.ageWhenProbabilityAliveFalls(to: 0.3, PurchaseHistorySummary(x: 0, tx: 0, T: 0)))
        #expect(age > 0)
    }

    @Test("MBG/NBD fits the CDNOW summary and keeps one-time buyers from staying alive forever")
    func mbgnbdFit() throws {
        let fit = BGNBDModel.fit(try CDNOW.summary().map(\.history), variant: .mbgnbd)
        #expect(fit.converged)
        let early = fit.model.probabilityAlive(PurchaseHistorySummary(x: 0, tx: 0, T: 5))
        let late = fit.model.probabilityAlive(PurchaseHistorySummary(x: 0, tx: 0, T: 60))
        #expect(late < early)
        #expect(late < 1)
    }

    @Test("CLV discounts expected spend month by month")
    func customerLifetimeValue() {
        let purchases = BGNBDModel(parameters: published, variant: .bgnbd)
        let spend = GammaGammaModel(parameters: .init(p: 6.25, q: 3.74, v: 15.44))
        let history = PurchaseHistorySummary(x: 5, tx: 35, T: 38, meanRepeatValue: 40)
        let clv = CustomerLifetimeValue.value(history: history, purchases: purchases, spend: spend, months: 12, monthlyDiscountRate: 0.01)
        let undiscounted = spend.expectedAverageValue(x: 5, meanValue: 40) * purchases.expectedPurchases(in: 12 * 4.345, history)
        #expect(clv > 0)
        #expect(clv < undiscounted)
        #expect(clv > undiscounted / 1.01 / 1.01 / 1.13)  // 12 months at 1%: at most ~11% less
        let lapsed = PurchaseHistorySummary(x: 3, tx: 10, T: 70, meanRepeatValue: 40)
        #expect(CustomerLifetimeValue.value(history: lapsed, purchases: purchases, spend: spend) < clv / 10)
    }
}

@Suite("Fits on simulated histories")
struct SyntheticFitTests {
    @Test("BG/NBD and MBG/NBD recover the parameters their histories were simulated with", arguments: BGNBDModel.Variant.allCases)
    func recovers(variant: BGNBDModel.Variant) {
        let truth = BGNBDModel.Parameters(r: 0.25, alpha: 4.0, a: 0.8, b: 2.5)
        let histories = SyntheticHistories(parameters: truth, variant: variant, clients: 200_000, seed: 3).histories()
        let fit = BGNBDModel.fit(histories, variant: variant)
        let p = fit.model.parameters
        #expect(fit.converged)
        // Sampling noise at 200,000 clients, and whole-day times that merge a few purchases and
        // blur short gaps (α most): a few percent.
        #expect(abs(p.r / truth.r - 1) < 0.08, "r = \(p.r)")
        #expect(abs(p.alpha / truth.alpha - 1) < 0.12, "α = \(p.alpha)")
        #expect(abs(p.a / truth.a - 1) < 0.08, "a = \(p.a)")
        #expect(abs(p.b / truth.b - 1) < 0.08, "b = \(p.b)")
    }
}

@Suite("CDNOW replay format")
struct CDNOWFormatTests {
    @Test("every line of the sample becomes a valid purchase event with a stable id")
    func sample() throws {
        let text = try String(contentsOf: CDNOW.directory.appendingPathComponent("CDNOW_sample.txt"), encoding: .utf8)
        let events = try CDNOWFormat.events(from: text)
        #expect(events.count == 6919)
        #expect(Set(events.map(\.clientId)).count == 2357)
        #expect(Set(events.map(\.eventId)).count == 6919)
        let first = try PurchaseEvent.decode(Array(events[0].json.utf8))
        #expect(first.clientId == "CDNOW-0001")
        #expect(first.amount == Money(jsonNumber: "29.33"))
        #expect(first.items == 2)
        #expect(first.occurredAt == Timestamp(rfc3339: "1997-01-01T00:00:00Z"))
        for event in events { _ = try PurchaseEvent.decode(Array(event.json.utf8)) }
    }

    @Test("the master layout with its header is read too; bad lines are reported by number")
    func masterAndErrors() throws {
        let master = " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n"
        let events = try CDNOWFormat.events(from: master)
        #expect(events.map(\.clientId) == ["CDNOW-00001", "CDNOW-00002"])
        #expect {
            _ = try CDNOWFormat.events(from: " 00001 19970101  1   11.77\n 00002 1997-01-12  5   77.00\n")
        } throws: { error in
            (error as? CDNOWFormat.LineError)?.line == 2
        }
        #expect(throws: CDNOWFormat.LineError.self) { _ = try CDNOWFormat.events(from: " 00001 19970101 11.77\n") }
        #expect(throws: CDNOWFormat.LineError.self) { _ = try CDNOWFormat.events(from: " 00001 19970101 1 -3\n") }
    }
}
