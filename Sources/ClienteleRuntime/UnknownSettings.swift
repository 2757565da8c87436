import ClienteleDomain
import Synchronization
import Yams

/// The setting keys a configuration reads (dotted, e.g. `clientele.batch.size`), recorded as it
/// reads them: what a deployment may set. Anything else it sets is a typo or a leftover.
final class SettingKeys: Sendable {
    private let keys = Mutex<Set<String>>([])

    func note(_ key: String) { _ = keys.withLock { $0.insert(key) } }

    var all: Set<String> { keys.withLock { $0 } }
}

/// Refuses settings nobody reads: a `CLIENTELE_*` environment variable or a configuration-file
/// key that no part of the worker knows (a typo would otherwise be a setting silently not
/// applied). The message names it and the closest known name.
enum UnknownSettings {
    /// Environment variables read outside the settings reader.
    static let readElsewhere: Set<String> = ["CLIENTELE_CONFIG_FILE"]

    static func check(environment: [String: String], fileKeys: [String], file: String?, known: Set<String>) throws(ConfigurationProblem) {
        let variables = Set(known.map(SettingsReader.variableName)).union(readElsewhere)
        for name in environment.keys.sorted() where name.hasPrefix("CLIENTELE_") && !variables.contains(name) {
            throw ConfigurationProblem("unknown setting \(name)\(suggestion(for: name, among: variables)); remove it or fix its name")
        }
        for key in fileKeys where !known.contains(key) {
            throw ConfigurationProblem(
                "unknown key '\(key)' in \(file ?? "the configuration file")\(suggestion(for: key, among: known)); remove it or fix its name")
        }
    }

    /// Every leaf key of a YAML mapping, dotted (`clientele: {batch: {size: 5}}` → `clientele.batch.size`).
    static func keys(ofYAML text: String) throws -> [String] {
        guard let root = try Yams.load(yaml: text) else { return [] }
        var keys: [String] = []
        func walk(_ value: Any, _ path: [String]) {
            if let mapping = value as? [String: Any] {
                for (name, child) in mapping { walk(child, path + name.split(separator: ".").map(String.init)) }
            } else if !path.isEmpty {
                keys.append(path.joined(separator: ".").lowercased())
            }
        }
        walk(root, [])
        return keys.sorted()
    }

    static func suggestion(for name: String, among known: Set<String>) -> String {
        guard let closest = known.min(by: { distance(name, $0) < distance(name, $1) || (distance(name, $0) == distance(name, $1) && $0 < $1) }),
              distance(name, closest) <= max(3, name.count / 3) else { return "" }
        return " (did you mean \(closest)?)"
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
