import Crypto
import Foundation
import ClienteleDomain

/// The deployment's secret, for the keyed hashes the store keeps instead of personal data: the
/// record that a client was erased (so their replayed events stay ignored) and the fingerprint of
/// each accepted event's content (so a different event under a seen id is told apart). Keyed
/// (HMAC-SHA-256): without the key, nobody holding the store can test whether an e-mail address
/// is in it. Losing the key means erased ids can no longer be recognized; back it up with the
/// database's credentials, not with the database.
public struct DeploymentKey: Sendable {
    private let key: SymmetricKey
    /// The keyed hash of content fingerprints, ready to take an event's content: keying an HMAC
    /// hashes the key's pads, too costly to repeat for every event.
    private let contentHasher: HMAC<Crypto.SHA256>

    /// A key of at least 32 bytes.
    public init(bytes: [UInt8]) throws(StoreError) {
        guard bytes.count >= 32 else { throw StoreError(.invalidKey, "the erasure key must hold at least 32 bytes (64 hex digits)") }
        key = SymmetricKey(data: bytes)
        var hasher = HMAC<Crypto.SHA256>(key: key)
        hasher.update(data: Array(Self.contentDomain.utf8))
        contentHasher = hasher
    }

    /// Separates content fingerprints from every other keyed hash made with the key.
    static let contentDomain = "clientele event content v2\u{0}"
    /// The length of a content fingerprint; records written by the first release that kept
    /// fingerprints hold 16 bytes (the keyed hash of the contract JSON, see ``legacyFingerprint(_:)``).
    public static let contentFingerprintLength = 20

    /// A new random key.
    public static func random() -> DeploymentKey {
        // 32 random bytes: never fails.
        try! DeploymentKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// Reads a key file: 64 or more hex digits (e.g. `openssl rand -hex 32`), surrounding space ignored.
    public static func read(file path: String) throws(StoreError) -> DeploymentKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.invalidKey, "the erasure key file '\(path)' cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = hexBytes(text) else {
            throw StoreError(.invalidKey, "the erasure key file '\(path)' must hold hex digits only (create one with: openssl rand -hex 32 > FILE; chmod 600 FILE)")
        }
        return try DeploymentKey(bytes: bytes)
    }

    /// Reads the key file at `path`, creating it (mode 0600, a new random key) when it does not
    /// exist. Two processes starting together agree: the file is created exclusively, and the
    /// loser reads the winner's. Returns whether this call created it.
    public static func readOrCreate(file path: String) throws(StoreError) -> (key: DeploymentKey, created: Bool) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor < 0 {
            guard errno == EEXIST else { throw StoreError(.invalidKey, "cannot create the erasure key file '\(path)' (errno \(errno))") }
            // Another process may be writing it right now.
            for _ in 0..<50 {
                if let data = FileManager.default.contents(atPath: path), data.count >= 64 { break }
                usleep(20_000)
            }
            return (try read(file: path), false)
        }
        let key = random()
        let text = Array((key.hex + "\n").utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        guard written == text.count else { throw StoreError(.invalidKey, "cannot write the erasure key file '\(path)'") }
        return (key, true)
    }

    /// The keyed hash of `text`, as hex.
    public func hash(_ text: String) -> String {
        Self.hex(Array(HMAC<Crypto.SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
    }

    /// What an erasure record keeps of a client id: the keyed hash of the id's SHA-256 (hex), so
    /// records written as a plain SHA-256 before keys existed could be re-keyed in place.
    public func erasureHash(of clientId: String) -> String {
        hash(Self.hex(Array(Crypto.SHA256.hash(data: Array(clientId.utf8)))))
    }

    /// Each event's content fingerprint: the first 20 bytes of the keyed hash of its content
    /// (``EventContent``), equal for two events exactly when their contract JSON is equal.
    public func contentFingerprints(of events: some Sequence<InputEvent>) -> [[UInt8]] {
        var content = EventContent()
        return events.map { event in
            content.write(event)
            var hasher = contentHasher
            hasher.update(data: content.bytes)
            return hasher.finalize().withUnsafeBytes { Array($0.prefix(Self.contentFingerprintLength)) }
        }
    }

    /// The fingerprint records of the first release that kept them hold: the first 16 bytes of
    /// the keyed hash of the event's contract JSON. Compared only against such a record.
    public func legacyFingerprint(_ event: InputEvent) -> [UInt8] {
        Array(Array(HMAC<Crypto.SHA256>.authenticationCode(for: event.encoded, using: key)).prefix(16))
    }

    /// Identifies the key without revealing it (kept in the store: every worker must use the same key).
    public var identity: String { String(hash("clientele deployment key identity").prefix(16)) }

    /// The store setting that identifies the key a store's keyed hashes were made with (its
    /// identity, never the key).
    static let identitySetting = "deployment.key_identity"

    /// The key as hex digits, the form a key file holds.
    public var hex: String { key.withUnsafeBytes { Self.hex(Array($0)) } }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        var index = 0
        while index < characters.count {
            guard let high = value(characters[index]), let low = value(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// Where a store gets the deployment key.
public enum DeploymentKeySource: Sendable {
    /// A file the deployment gives (`CLIENTELE_ERASURE_KEY_FILE`).
    case file(String)
    /// Beside an SQLite file (`<file>.key`), created by the first process that opens the store.
    case besideStore
    /// This key (tools and tests).
    case key(DeploymentKey)
    /// None: a read-only look at the store (applying events or erasures then fails).
    case none
}
