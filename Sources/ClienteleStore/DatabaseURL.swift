import Foundation

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
        /// From the URL, or from `DATABASE_PASSWORD_FILE` (see ``withPassword(fromFile:)``).
        public var password: String?
        public var host: String
        public var port: Int
        public var database: String
        /// How the connection is encrypted (`sslmode=`, as libpq spells it).
        public var sslMode: SSLMode = .prefer
        /// Certificate authorities to trust for `verify-full` (`sslrootcert=PATH`); the system's when nil.
        public var rootCertificateFile: String?
    }

    /// libpq's `sslmode` values this client supports.
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS or no connection, without checking the certificate.
        case require
        /// TLS with the server's certificate checked against trusted authorities and the host name.
        case verifyFull = "verify-full"
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
        let path = location[location.index(after: slash)...]
        let database = String(path.prefix { $0 != "?" })
        guard !database.isEmpty else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL database name is empty") }
        var sslMode = SSLMode.prefer
        var rootCertificateFile: String?
        if let question = path.firstIndex(of: "?") {
            for pair in path[path.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                switch (parts.first ?? "", parts.count == 2 ? parts[1] : nil) {
                case ("sslmode", let value?):
                    guard let mode = SSLMode(rawValue: value) else {
                        throw StoreError(.invalidURL, """
                            DATABASE_URL: sslmode '\(value)' is not supported; use one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))
                            """)
                    }
                    sslMode = mode
                case ("sslrootcert", let value?) where !value.isEmpty:
                    rootCertificateFile = value
                default:
                    throw StoreError(.invalidURL, "DATABASE_URL: unknown PostgreSQL option '\(parts.first ?? "")'; the options are sslmode and sslrootcert")
                }
            }
        }
        let hostParts = hostPort.split(separator: ":", maxSplits: 1).map(String.init)
        guard let host = hostParts.first, !host.isEmpty else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL host is missing") }
        var port = 5432
        if hostParts.count == 2 {
            guard let parsed = Int(hostParts[1]), (1...65535).contains(parsed) else {
                throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL port must be a number from 1 to 65535")
            }
            port = parsed
        }
        guard !database.contains("/") else { throw StoreError(.invalidURL, "DATABASE_URL: the PostgreSQL database name cannot contain '/'") }
        return PostgresLocation(
            user: Self.percentDecoded(user), password: userParts.count == 2 ? Self.percentDecoded(userParts[1]) : nil, host: host, port: port,
            database: Self.percentDecoded(database), sslMode: sslMode, rootCertificateFile: rootCertificateFile)
    }

    /// `%XX` escapes decoded (a password with `@` or `:` is written `%40`, `%3A` in a URL).
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
               let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The URL with any password replaced, safe to log.
    public var description: String {
        switch self {
        case .sqlite(let path, let options): "sqlite:\(path)?synchronous=\(options.synchronous)"
        case .postgres(let location):
            "postgres://\(location.user)\(location.password == nil ? "" : ":<redacted>")@\(location.host):\(location.port)/\(location.database)"
                + "?sslmode=\(location.sslMode.rawValue)"
        }
    }
}

extension DatabaseURL {
    /// The URL with the PostgreSQL password read from `file` (`DATABASE_PASSWORD_FILE`: a secret
    /// mounted as a file, one line). A URL that already holds a password is refused with it, so
    /// that nobody wonders which one counts; SQLite needs no password.
    public func withPassword(fromFile file: String?) throws(StoreError) -> DatabaseURL {
        guard let file else { return self }
        guard case .postgres(var location) = self else {
            throw StoreError(.invalidURL, "DATABASE_PASSWORD_FILE is set but DATABASE_URL names SQLite, which has no password: unset it")
        }
        guard location.password == nil else {
            throw StoreError(.invalidURL, "DATABASE_URL holds a password and DATABASE_PASSWORD_FILE is set too: keep only one")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StoreError(.invalidURL, "DATABASE_PASSWORD_FILE '\(file)' cannot be read")
        }
        var password = String(decoding: data, as: UTF8.self)
        while password.last == "\n" || password.last == "\r" { password.removeLast() }
        guard !password.isEmpty else { throw StoreError(.invalidURL, "DATABASE_PASSWORD_FILE '\(file)' is empty") }
        location.password = password
        return .postgres(location)
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
