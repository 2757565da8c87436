import ClienteleDomain
import Testing

@Suite("Purchase event validation")
struct PurchaseEventTests {
    static let valid = #"{"eventId":"p-1001","clientId":"C000042","occurredAt":"2026-03-01T10:15:00Z","amount":129.90,"currency":"EUR","margin":41.20,"discount":0.0,"channel":"web","items":3}"#

    @Test("the contract's example decodes with every field")
    func decodesContractExample() throws {
        let event = try PurchaseEvent.decode(Array(Self.valid.utf8))
        #expect(event.eventId == "p-1001")
        #expect(event.clientId == "C000042")
        #expect(event.occurredAt == Timestamp(rfc3339: "2026-03-01T10:15:00Z"))
        #expect(event.kind == .purchase)
        #expect(event.amount == Money(jsonNumber: "129.90"))
        #expect(event.currency.code == "EUR")
        #expect(event.margin == Money(jsonNumber: "41.20"))
        #expect(event.discount == .zero)
        #expect(event.channel == "web")
        #expect(event.items == 3)
    }

    @Test("a refund and unknown extra fields are accepted")
    func refundAndExtras() throws {
        let event = try PurchaseEvent.decode(Array(
            #"{"eventId":"r1","clientId":"C1","occurredAt":"2026-03-01T10:15:00+02:00","type":"refund","amount":5,"currency":"JPY","vendorField":{"x":1}}"#.utf8))
        #expect(event.kind == .refund)
        #expect(event.margin == nil)
        #expect(event.occurredAt == Timestamp(rfc3339: "2026-03-01T08:15:00Z"))
    }

    @Test("bad messages are rejected with the right reason", arguments: [
        (#"{"eventId":"x""#, "malformed_json"),
        (#"[1]"#, "not_an_object"),
        (#"{"clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR"}"#, "missing_field"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","currency":"EUR"}"#, "missing_field"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":null,"currency":"EUR"}"#, "missing_field"),
        (#"{"eventId":7,"clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR"}"#, "wrong_type"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":"1","currency":"EUR"}"#, "wrong_type"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR","items":"3"}"#, "wrong_type"),
        (#"{"eventId":"","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR"}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR","items":2.5}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1e13,"currency":"EUR"}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":-0.01,"currency":"EUR"}"#, "negative_amount"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"EUR","discount":-1}"#, "negative_amount"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"ABC"}"#, "unknown_currency"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","amount":1,"currency":"eur"}"#, "unknown_currency"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01","amount":1,"currency":"EUR"}"#, "invalid_timestamp"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"1960-03-01T10:15:00Z","amount":1,"currency":"EUR"}"#, "invalid_timestamp"),
        (#"{"eventId":"e","clientId":"C1","occurredAt":"2026-03-01T10:15:00Z","type":"gift","amount":1,"currency":"EUR"}"#, "unknown_kind"),
    ])
    func rejections(message: String, reason: String) {
        #expect {
            _ = try PurchaseEvent.decode(Array(message.utf8))
        } throws: { error in
            (error as? EventRejection)?.reason.rawValue == reason
        }
    }

    @Test("invalid UTF-8, oversized and empty messages are rejected before parsing")
    func byteLevelRejections() {
        func reason(_ bytes: [UInt8]?, limit: Int = 1024) -> String? {
            do {
                _ = try PurchaseEvent.decode(bytes, maximumBytes: limit)
                return nil
            } catch {
                return error.reason.rawValue
            }
        }
        #expect(reason(Array(Self.valid.utf8).dropLast(20) + [0xC3, 0x28] + Array("\"}".utf8)) == "invalid_utf8")
        #expect(reason(Array(Self.valid.utf8), limit: 100) == "too_large")
        #expect(reason(nil) == "empty_message")
        #expect(reason([]) == "empty_message")
    }

    @Test("rejection details never quote the message's values")
    func detailsHoldNoData() {
        let secret = "jane.doe@example.com"
        let message = #"{"eventId":"e","clientId":"\#(secret)","occurredAt":"2026-03-01T10:15:00Z","amount":"\#(secret)","currency":"EUR"}"#
        do {
            _ = try PurchaseEvent.decode(Array(message.utf8))
            Issue.record("expected a rejection")
        } catch {
            #expect(!error.detail.contains(secret))
            #expect(error.detail.contains("amount"))
        }
    }
}
