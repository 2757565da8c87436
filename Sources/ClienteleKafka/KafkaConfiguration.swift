import CRdKafka

/// librdkafka properties for one client, with the few this module relies on set explicitly.
///
/// Any librdkafka property can be set through `properties`; `description` masks the values of
/// properties that hold secrets.
public struct KafkaConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// librdkafka properties by name, e.g. `bootstrap.servers`.
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.properties = properties
        self.properties["bootstrap.servers"] = bootstrapServers
    }

    public var bootstrapServers: String { properties["bootstrap.servers"] ?? "" }

    /// Sets a property unless the user already did.
    public mutating func setDefault(_ name: String, _ value: String) {
        if properties[name] == nil { properties[name] = value }
    }

    /// True for property names whose values must never be logged.
    public static func isSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["password", "secret", "jaas", "key.pem", "keystore", "token", "ssl.key", "credentials"]
            .contains { lower.contains($0) }
    }

    public var description: String {
        properties.keys.sorted().map { key in
            "\(key)=\(Self.isSecret(key) ? "<redacted>" : properties[key]!)"
        }.joined(separator: ", ")
    }

    /// Builds a librdkafka configuration object; the caller owns it (until rd_kafka_new takes it).
    func makeNativeConfiguration() throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("out of memory") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError.configuration("property '\(name)': \(text)")
            }
        }
        return conf
    }
}
