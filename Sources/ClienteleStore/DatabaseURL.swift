/// A parsed, validated `DATABASE_URL`.
///
/// - `sqlite:PATH` (relative or absolute path; `sqlite::memory:` is refused: workers share the file)
/// - `postgres://user:pass@host:port/db` (or `postgresql://`)
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String, options: SQLiteOptions)
    case postgres(PostgresLocation)

    /// SQLite settings taken from the URL's query, e.g. `sqlite:data.db?synchronous=normal`.
    public struct SQLiteOptions: Sendable, Equatable {
        /// `full` (default: every commit is on disk before offsets are committed) or `normal`
        /// (survives a process crash, not a power loss; faster).
        public var synchronous: String = "full"
        public init() {}
    }

    /// Where a PostgreSQL database is; the password is kept out of `description`.
    public struct PostgresLocation: Sendable, Equatable {
        public var user: String
        public var password: String?
        public var host: String
        public var port: Int
        public var database: String
    }

    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingWhitespace
        if trimmed.hasPrefix("sqlite:") {
            var rest = String(trimmed.dropFirst("sqlite:".count))
            if rest.hasPrefix("//") { rest.removeFirst(2) }  // sqlite://path is a common spelling
            var options = SQLiteOptions()
            if let question = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: question)...]
                rest = String(rest[..<question])
                for pair in query.split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, parts[0] == "synchronous", ["full", "normal"].contains(parts[1].lowercased()) else {
                        throw StoreError(.invalidURL, "DATABASE_URL: unknown SQLite option '\(parts.first ?? "")'; the only option is synchronous=full|normal")
                    }
                    options.synchronous = parts[1].lowercased()
                }
            }
            guard !rest.isEmpty else {
                throw StoreError(.invalidURL, "DATABASE_URL 'sqlite:' needs a file path, e.g. sqlite:clientele.sqlite")
            }
            guard rest != ":memory:" else {
                throw StoreError(.invalidURL, "DATABASE_URL: an in-memory SQLite database cannot be shared by workers; give a file path")
            }
            self = .sqlite(path: rest, options: options)
            return
        }
        for scheme in ["postgres://", "postgresql://"] where trimmed.hasPrefix(scheme) {
            self = .postgres(try Self.parsePostgres(String(trimmed.dropFirst(scheme.count))))
            return
        }
        throw StoreError(.invalidURL, "DATABASE_URL must start with 'sqlite:' or 'postgres://' (e.g. sqlite:clientele.sqlite)")
    }

    private static func parsePostgres(_ rest: String) throws(StoreError) -> PostgresLocation {
        guard let at = rest.lastIndex(of: "@") else {
            throw StoreError(.invalidURL, "DATABASE_URL: a PostgreSQL URL needs user@host, e.g. postgres://clientele:secret@localhost:5432/clientele")
        }
        let credentials = rest[..<at]
        let location = rest[rest.index(after: at)...]
        let userParts = credentials.split(separator: ":", maxSplits: 1).map(String.init)
        guard let user = userParts.first, !user.isEmpty else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL user is missing") }
        guard let slash = location.firstIndex(of: "/") else {
            throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL database name is missing (…@host:port/dbname)")
        }
        let hostPort = location[..<slash]
        let database = String(location[location.index(after: slash)...].prefix { $0 != "?" })
        guard !database.isEmpty else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL database name is empty") }
        let hostParts = hostPort.split(separator: ":", maxSplits: 1).map(String.init)
        guard let host = hostParts.first, !host.isEmpty else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL host is missing") }
        var port = 5432
        if hostParts.count == 2 {
            guard let parsed = Int(hostParts[1]), (1...65535).contains(parsed) else {
                throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL port must be a number from 1 to 65535")
            }
            port = parsed
        }
        return PostgresLocation(user: user, password: userParts.count == 2 ? userParts[1] : nil, host: host, port: port, database: database)
    }

    /// The URL with any password replaced, safe to log.
    public var description: String {
        switch self {
        case .sqlite(let path, let options): "sqlite:\(path)?synchronous=\(options.synchronous)"
        case .postgres(let location):
            "postgres://\(location.user)\(location.password == nil ? "" : ":<redacted>")@\(location.host):\(location.port)/\(location.database)"
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
