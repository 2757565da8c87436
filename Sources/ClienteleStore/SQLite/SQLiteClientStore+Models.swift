import ClienteleDomain
import Foundation
import GRDB

/// Purchase histories for the models, and the fitted models' versions.
extension SQLiteClientStore {
    public func purchaseHistories(asOf: Timestamp) async throws -> [String: PurchaseHistorySummary] {
        let endDay = asOf.day
        return try await pool.read { db in
            var days: [String: [(day: Int, value: Double)]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT client_id, day, amount FROM purchase_days WHERE day <= ?", arguments: [endDay])
            while let row = try rows.next() {
                days[row[0], default: []].append((row[1], Double(row[2] as Int64) / Double(Money.scale)))
            }
            return days.compactMapValues { PurchaseHistorySummary.from(purchases: $0, calibrationEndDay: endDay) }
        }
    }

    public func saveModel(_ model: StoredModel) async throws -> StoredModel {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO models (kind, parameters, log_likelihood, clients, as_of, fitted_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [model.kind, model.parametersJSON, model.logLikelihood, model.clients,
                                 model.asOf.millisecondsSinceEpoch, model.fittedAt.millisecondsSinceEpoch])
            var saved = model
            saved.version = Int(db.lastInsertedRowID)
            return saved
        }
    }

    public func newestModel(kind: String) async throws -> StoredModel? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT version, kind, parameters, log_likelihood, clients, as_of, fitted_at FROM models
                WHERE kind = ? ORDER BY version DESC LIMIT 1
                """, arguments: [kind]).map { row in
                StoredModel(
                    version: row[0], kind: row[1], parametersJSON: row[2], logLikelihood: row[3], clients: row[4],
                    asOf: Timestamp(millisecondsSinceEpoch: row[5]), fittedAt: Timestamp(millisecondsSinceEpoch: row[6]))
            }
        }
    }
}
