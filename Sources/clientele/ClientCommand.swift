import ArgumentParser
import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import Foundation

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Look at clients in the store.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a client's status, aggregates, consent, contact history, recent and suppressed tasks, status history.")

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The client id.") var id: String
        @Flag(help: "Print JSON instead of text.") var json = false
        @Option(help: "How many recent tasks and status changes to show.") var recent = 10
        @Option(name: .customLong("as-of"), help: "Moment the churn standing is judged at, RFC 3339 (default: the deployment's clock).")
        var asOf: String?

        func run() async throws {
            let configuration = try await loadReaderConfiguration()
            let store = try database.openStore()
            let clock = try await ReaderClock.resolve(asOf: asOf, configuration: configuration, store: store)
            guard let view = try await store.client(id: id, recent: recent) else {
                printError("client '\(id)' is not in the store")
                throw ExitCode(1)
            }
            let figures = try await ModelFigures.compute(for: view.state, at: clock.now, churn: configuration.churn, store: store)
            print(json ? ClientViewFormat.json(view, figures, clock: clock) : ClientViewFormat.text(view, figures, clock: clock))
        }
    }
}

/// The moment a read-only command judges at — the deployment's, so that a client's stored status
/// and the churn standing shown beside it agree: the moment the churn-worker last judged every
/// client at (on the wall clock its last sweep, on the event clock its judged event time); before
/// any judgement, now or (CLIENTELE_CLOCK=event) the newest event read. `--as-of` overrides it.
struct ReaderClock {
    var now: Timestamp
    /// Which clock, in words.
    var name: String

    static func resolve(asOf: String?, configuration: WorkerConfiguration, store: any ClientStore) async throws -> ReaderClock {
        if let asOf {
            guard let parsed = Timestamp(rfc3339: asOf) ?? Timestamp(rfc3339: asOf + "T00:00:00Z") else {
                throw ValidationError("--as-of must be an RFC 3339 time or a date (got '\(asOf)')")
            }
            return ReaderClock(now: parsed, name: "--as-of")
        }
        if let judged = try await store.setting(StoreSettingNames.churnJudgedThrough).flatMap(Timestamp.init(rfc3339:)) {
            let clock = try await store.setting(StoreSettingNames.churnClock) ?? configuration.clock.rawValue
            return ReaderClock(now: judged, name: "\(clock) clock: where the churn-worker last judged")
        }
        let wall = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        if configuration.clock == .event, let newest = try await store.newestEventTime() {
            return ReaderClock(now: newest, name: "event clock: the newest event read (no churn judgement yet)")
        }
        return ReaderClock(now: wall, name: "wall clock (no churn judgement yet)")
    }
}

/// The deployment's configuration, as the workers read it (CLIENTELE_CLOCK, the churn settings).
func loadReaderConfiguration() async throws -> WorkerConfiguration {
    do {
        return try await WorkerConfiguration.load(workerName: "clientele", defaultHTTPPort: 9100)
    } catch {
        throw ValidationError("configuration error: \(error)")
    }
}

/// A client's churn standing at one moment (from the newest fitted model, or the recency rules
/// before one exists), expected purchases and CLV.
struct ModelFigures {
    var assessment: ChurnAssessment
    var expectedPurchases90Days: Double?
    /// `mbgnbd v3 (as of 1998-06-30)`, or nil under the recency rules.
    var model: String?

    static func compute(for state: ClientState, at now: Timestamp, churn: ChurnConfiguration, store: any ClientStore) async throws -> ModelFigures? {
        let models = try await ChurnPolicySource.newestModels(kind: churn.modelKind, store: store)
        guard let assessment = churn.policy(models: models).assess(state, at: now) else { return nil }
        var expected: Double?
        if let models, let history = state.purchaseDays.summary(asOfDay: now.day), !assessment.basis.hasPrefix("rules:") {
            expected = models.purchases.expectedPurchases(in: 90.0 / 7, history)
        }
        return ModelFigures(
            assessment: assessment, expectedPurchases90Days: expected,
            model: models.map { "\($0.purchases.variant.rawValue) v\($0.version) (as of \(String($0.asOf.rfc3339.prefix(10))))" })
    }
}

/// Renders a ``ClientView`` for people (text) or programs (JSON).
enum ClientViewFormat {
    static func text(_ view: ClientView, _ figures: ModelFigures? = nil, clock: ReaderClock? = nil) -> String {
        let state = view.state
        let currency = state.currency.map { " " + $0 } ?? ""
        var lines = ["Client \(state.clientId)"]
        if let clock { lines.append("  judged as of    \(clock.now) (\(clock.name))") }
        lines.append("  status          \(state.status?.rawValue ?? "(none)")"
            + (state.temperature.map { " (\($0.rawValue))" } ?? "")
            + (state.statusChangedAt.map { " since \($0)" } ?? ""))
        lines.append("  purchases       \(state.purchaseCount)"
            + (state.firstPurchaseAt.map { ", first \($0)" } ?? "") + (state.lastPurchaseAt.map { ", last \($0)" } ?? ""))
        lines.append("  total amount    \(state.totalAmount)\(currency)  (margin \(state.totalMargin), discounts \(state.totalDiscount))")
        if let average = state.averageAmount {
            lines.append("  average order   \(String(format: "%.2f", average))\(currency)")
        }
        lines.append("  refunds         \(state.refundCount) (\(state.refundTotal)\(currency))")
        let contacts = state.contacts
        let consent = contacts.consent.map { "\($0.value ? "granted" : "withdrawn") on \($0.at)" } ?? "never stated (marketing allowed)"
        lines.append("  consent         \(consent)")
        let bant = [("budget", contacts.budget), ("authority", contacts.authority), ("need", contacts.need), ("timing", contacts.timing)]
            .map { name, fact in "\(name) \(fact.map { $0.value ? "yes" : "no" } ?? "?")" }.joined(separator: ", ")
        lines.append("  qualification   \(bant) (\(contacts.qualifiedCount)/4)")
        if let activity = state.lastActivityAt { lines.append("  last activity   \(activity)") }
        if contacts.complaintCount > 0 {
            lines.append("  complaints      \(contacts.complaintCount), last \(contacts.lastComplaintAt.map(\.rfc3339) ?? "?")")
        }
        if let score = contacts.lastSatisfaction { lines.append("  satisfaction    \(score.value)/5 on \(score.at)") }
        if let figures {
            let churn = figures.assessment
            let standing = churn.level?.rawValue ?? "in good standing"
            lines.append("  churn           \(standing) by \(churn.basis)" + (figures.model.map { " — \($0)" } ?? " (no model fitted yet: clientele model fit)"))
            if let p = churn.probabilityAlive {
                lines.append(String(format: "  P(alive)        %.3f   expected purchases next 90 days %.2f", p, figures.expectedPurchases90Days ?? 0)
                    + (churn.clv.map { String(format: "   CLV (12 months) %.2f", $0) } ?? ""))
            }
            lines.append(String(format: "  value at risk   %.2f%@   risk %.2f", churn.valueAtRisk, currency, churn.risk))
            lines.append("  at risk from    \(churn.atRiskAt.map(\.rfc3339) ?? "never by time alone")   passive from \(churn.passiveAt.map(\.rfc3339) ?? "never by time alone")")
        }
        lines.append("  next review     \(state.nextReviewAt.map(\.rfc3339) ?? "none scheduled")")
        lines.append("")
        lines.append("  contact history")
        if contacts.history.isEmpty { lines.append("    (none)") }
        for key in contacts.history.keys.sorted() {
            let tally = contacts.history[key]!
            lines.append("    \(key.kind.padding(toLength: 18, withPad: " ", startingAt: 0)) \((key.channel.isEmpty ? "–" : key.channel).padding(toLength: 10, withPad: " ", startingAt: 0)) \(tally.count)×, last \(tally.lastAt)")
        }
        lines.append("")
        lines.append("  recent tasks")
        if view.recentTasks.isEmpty { lines.append("    (none)") }
        for task in view.recentTasks {
            lines.append("    \(task.createdAt)  \(task.kind.rawValue)  \(task.priority.rawValue), due \(task.dueAt)  (\(task.reason); caused by \(task.causedBy))")
        }
        if !view.recentSuppressedTasks.isEmpty {
            lines.append("")
            lines.append("  suppressed tasks (not sent)")
            for item in view.recentSuppressedTasks {
                lines.append("    \(item.task.createdAt)  \(item.task.kind.rawValue)  because \(item.because)  (caused by \(item.task.causedBy))")
            }
        }
        if !view.recentConvertedPurchases.isEmpty {
            lines.append("")
            lines.append("  converted purchases (as sent → \(state.currency ?? "?"))")
            for purchase in view.recentConvertedPurchases {
                lines.append("    \(purchase.occurredAt)  \(purchase.kind.rawValue)  \(purchase.originalAmount) \(purchase.originalCurrency) × \(purchase.rate) = \(purchase.amount)")
            }
        }
        lines.append("")
        lines.append("  status history")
        if view.recentStatusChanges.isEmpty { lines.append("    (none)") }
        for change in view.recentStatusChanges {
            lines.append("    \(change.changedAt)  \(change.previousStatus?.rawValue ?? "–") → \(change.status.rawValue)"
                + (change.temperature.map { " (\($0.rawValue))" } ?? "") + "  (\(change.reason); caused by \(change.causedBy))")
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ view: ClientView, _ figures: ModelFigures? = nil, clock: ReaderClock? = nil) -> String {
        let state = view.state
        var object = JSONObjectWriter()
        object.add("clientId", state.clientId)
        object.add("judgedAsOf", clock?.now)
        object.add("clock", clock?.name)
        object.add("status", state.status?.rawValue)
        object.add("statusChangedAt", state.statusChangedAt)
        object.add("purchaseCount", state.purchaseCount)
        object.add("firstPurchaseAt", state.firstPurchaseAt)
        object.add("lastPurchaseAt", state.lastPurchaseAt)
        object.add("totalAmount", state.totalAmount)
        object.add("totalMargin", state.totalMargin)
        object.add("totalDiscount", state.totalDiscount)
        object.add("refundCount", state.refundCount)
        object.add("refundTotal", state.refundTotal)
        object.add("currency", state.currency)
        object.add("lastEventAt", state.lastEventAt)
        object.add("temperature", state.temperature?.rawValue)
        let contacts = state.contacts
        object.add("consent", contacts.consent.map { $0.value ? "granted" : "withdrawn" })
        object.add("consentChangedAt", contacts.consent?.at)
        object.add("qualifiedCount", contacts.qualifiedCount)
        object.add("lastActivityAt", state.lastActivityAt)
        object.add("complaintCount", contacts.complaintCount)
        object.add("lastSatisfaction", contacts.lastSatisfaction?.value)
        object.add("churnLevel", figures?.assessment.level?.rawValue)
        object.add("churnBasis", figures?.assessment.basis)
        object.add("pAlive", figures?.assessment.probabilityAlive)
        object.add("risk", figures?.assessment.risk)
        object.add("valueAtRisk", figures?.assessment.valueAtRisk)
        object.add("expectedPurchases90d", figures?.expectedPurchases90Days)
        object.add("clv", figures?.assessment.clv)
        object.add("model", figures?.model)
        object.add("atRiskAt", figures?.assessment.atRiskAt)
        object.add("passiveAt", figures?.assessment.passiveAt)
        object.add("nextReviewAt", state.nextReviewAt)
        let history = contacts.history.keys.sorted().map { key -> String in
            var entry = JSONObjectWriter()
            entry.add("kind", key.kind)
            entry.add("channel", key.channel.isEmpty ? nil : key.channel)
            entry.add("count", contacts.history[key]!.count)
            entry.add("lastAt", contacts.history[key]!.lastAt)
            return entry.json
        }.joined(separator: ",")
        let suppressed = view.recentSuppressedTasks.map { item -> String in
            var text = String(decoding: item.task.payload, as: UTF8.self)
            text.removeLast()
            return text + ",\"suppressedBecause\":\"\(item.because)\"}"
        }.joined(separator: ",")
        let tasks = view.recentTasks.map { String(decoding: $0.payload, as: UTF8.self) }.joined(separator: ",")
        let changes = view.recentStatusChanges.map { String(decoding: $0.payload, as: UTF8.self) }.joined(separator: ",")
        let converted = view.recentConvertedPurchases.map { purchase -> String in
            var entry = JSONObjectWriter()
            entry.add("eventId", purchase.eventId)
            entry.add("occurredAt", purchase.occurredAt)
            entry.add("type", purchase.kind.rawValue)
            entry.add("originalAmount", purchase.originalAmount)
            entry.add("originalCurrency", purchase.originalCurrency)
            entry.add("rate", purchase.rate.description)
            entry.add("amount", purchase.amount)
            return entry.json
        }.joined(separator: ",")
        var text = object.json
        text.removeLast()
        return text + ",\"contactHistory\":[\(history)],\"recentTasks\":[\(tasks)],\"suppressedTasks\":[\(suppressed)],\"recentStatusChanges\":[\(changes)],\"convertedPurchases\":[\(converted)]}"
    }
}
