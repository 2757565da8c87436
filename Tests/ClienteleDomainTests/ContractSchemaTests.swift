import ClienteleDomain
import ClienteleWorkload
import Foundation
import Testing

/// The JSON Schemas in `config/schemas/` are the published contract: every event the rules emit
/// must match its schema, and so must every event the generators produce.
@Suite("contract: JSON Schemas in config/schemas")
struct ContractSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func schema(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: root.appendingPathComponent("config/schemas/\(name).schema.json"))
        return try JSONParser.parse(Array(data))
    }

    func problems(_ bytes: [UInt8], _ schemaName: String) throws -> [String] {
        SchemaCheck.problems(try JSONParser.parse(bytes), try Self.schema(schemaName))
    }

    @Test("generated purchases and contacts match the input schemas; broken ones do not")
    func inputs() throws {
        for line in PurchaseGenerator(clients: 50, purchases: 500).lines() {
            #expect(try problems(Array(line.json.utf8), "purchase") == [], "\(line.json)")
        }
        for line in ContactGenerator(clients: 50, prospects: 20, contacts: 500).lines() {
            #expect(try problems(Array(line.json.utf8), "contact") == [], "\(line.json)")
        }
        let broken = #"{"eventId":"","clientId":"c","occurredAt":"yesterday","amount":-1,"currency":"eur","items":1.5}"#
        #expect(try problems(Array(broken.utf8), "purchase").count == 5)
        let contact = #"{"eventId":"e","clientId":"c","occurredAt":"2026-01-01T00:00:00Z","kind":"fax","satisfaction":9}"#
        #expect(try problems(Array(contact.utf8), "contact").count == 2)
    }

    @Test("status changes, tasks and churn-risk events the rules emit match the output schemas")
    func outputs() throws {
        var clients: [String: ClientState] = [:]
        var effects: [ClientEffect] = []
        let purchases = PurchaseGenerator(clients: 40, purchases: 400).lines().map { try! PurchaseEvent.decode(Array($0.json.utf8)) }
        let contacts = ContactGenerator(clients: 40, prospects: 20, contacts: 400).lines().map { try! ContactEvent.decode(Array($0.json.utf8)) }
        for event in purchases {
            let caused = PurchaseRules().apply(event, to: &clients[event.clientId, default: ClientState(clientId: event.clientId)])
            for case .purchaseDay(let id, let day, let amount) in caused {
                clients[id]!.purchaseDays.add(day: day, amount: amount, isNewDay: !clients[id]!.purchaseDays.recentDays.contains(day))
            }
            effects += caused
        }
        for event in contacts {
            effects += ContactRules().apply(event, to: &clients[event.clientId, default: ClientState(clientId: event.clientId)])
        }
        // Churn reviews a year later, by the rules and by a model.
        let later = Timestamp(rfc3339: "2027-06-01T00:00:00Z")!
        let rules = RecencyRules(sector: SectorLimits(name: "general", atRiskAfterDays: 90, passiveAfterDays: 365))
        let model = ChurnModels(
            purchases: BGNBDModel(parameters: .init(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426), variant: .mbgnbd),
            spend: GammaGammaModel(parameters: .init(p: 6.25, q: 3.74, v: 15.44)), version: 1, asOf: later)
        for (index, id) in clients.keys.sorted().enumerated() {
            let policy = ChurnPolicy(rules: rules, models: index % 2 == 0 ? model : nil)
            effects += policy.review(&clients[id]!, now: later, lastTaskAt: [:])
        }
        var checked: [String: Int] = [:]
        for effect in effects {
            switch effect {
            case .statusChanged(let change):
                #expect(try problems(change.payload, "client-status") == [], "\(String(decoding: change.payload, as: UTF8.self))")
                checked["client-status", default: 0] += 1
            case .task(let task), .taskSuppressed(let task, _):
                #expect(try problems(task.payload, "follow-up-task") == [], "\(String(decoding: task.payload, as: UTF8.self))")
                checked[task.kind.rawValue, default: 0] += 1
            case .churnRisk(let risk):
                #expect(try problems(risk.payload, "churn-risk") == [], "\(String(decoding: risk.payload, as: UTF8.self))")
                checked["churn-risk \(risk.probabilityAlive == nil ? "rules" : "model")", default: 0] += 1
            case .purchaseDay, .erased, .convertedPurchase, .rejected:
                continue
            }
        }
        for kind in ["client-status", "churn-risk rules", "churn-risk model", "welcome_new_client", "reactivation_campaign", "complaint_follow_up"] {
            #expect((checked[kind] ?? 0) > 0, "no \(kind) was checked: \(checked)")
        }
        // The schemas are not vacuous.
        let extra = #"{"eventId":"e","clientId":"c","status":"gone","changedAt":"2026-01-01T00:00:00Z","reason":"r","causedBy":"x","purchaseCount":1,"secret":"y"}"#
        #expect(try problems(Array(extra.utf8), "client-status").count == 2)
    }
}

/// Checks a JSON value against the subset of JSON Schema the contract's schemas use: `type`,
/// `enum`, `required`, `properties`, `additionalProperties: false`, `minimum`, `maximum`,
/// `minLength`, `maxLength`, `pattern` and `format: date-time`.
enum SchemaCheck {
    static func problems(_ value: JSONValue, _ schema: JSONValue, at path: String = "$") -> [String] {
        guard case .object(let rules) = schema else { return [] }
        var found: [String] = []
        if case .array(let allowed)? = rules["enum"], !allowed.contains(where: { same($0, value) }) {
            found.append("\(path): not one of the allowed values")
        }
        if case .string(let type)? = rules["type"], !matches(value, type) {
            found.append("\(path): not a \(type)")
            return found
        }
        switch value {
        case .string(let text):
            if case .number(let n)? = rules["minLength"], text.count < Int(n)! { found.append("\(path): shorter than \(n)") }
            if case .number(let n)? = rules["maxLength"], text.count > Int(n)! { found.append("\(path): longer than \(n)") }
            if case .string(let pattern)? = rules["pattern"], text.range(of: pattern, options: .regularExpression) == nil {
                found.append("\(path): does not match \(pattern)")
            }
            if rules["format"] == .string("date-time"), Timestamp(rfc3339: text) == nil { found.append("\(path): not an RFC 3339 time") }
        case .number(let literal):
            let number = Double(literal)!
            if case .number(let n)? = rules["minimum"], number < Double(n)! { found.append("\(path): below \(n)") }
            if case .number(let n)? = rules["maximum"], number > Double(n)! { found.append("\(path): above \(n)") }
        case .object(let object):
            if case .array(let required)? = rules["required"] {
                for case .string(let name) in required where object[name] == nil { found.append("\(path).\(name): missing") }
            }
            let properties: [String: JSONValue]
            if case .object(let declared)? = rules["properties"] { properties = declared } else { properties = [:] }
            for (name, member) in object.sorted(by: { $0.key < $1.key }) {
                if let rule = properties[name] {
                    found += problems(member, rule, at: "\(path).\(name)")
                } else if rules["additionalProperties"] == .bool(false) {
                    found.append("\(path).\(name): not allowed")
                }
            }
        default:
            break
        }
        return found
    }

    private static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("object", .object), ("array", .array), ("null", .null), ("number", .number):
            true
        case ("integer", .number(let literal)):
            Double(literal).map { $0 == $0.rounded() } ?? false
        default:
            false
        }
    }

    private static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b { return Double(x) == Double(y) }
        return a == b
    }
}
