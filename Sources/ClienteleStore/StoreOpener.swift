import Logging

/// Opens the store a `DATABASE_URL` names.
public enum StoreOpener {
    /// Opens the store with the deployment key from `key` (by default, for SQLite, a file beside
    /// the database, created by the first process that opens it; PostgreSQL needs the key given).
    /// A PostgreSQL store prepares itself in the background: `waitUntilReady()` tells when it is
    /// migrated, waiting for at most `startupTimeout` (nil: for ever) while it is unreachable.
    public static func open(
        _ url: DatabaseURL, key: DeploymentKeySource = .besideStore, poolSize: Int = 10, startupTimeout: Duration? = .seconds(30),
        logger: Logger = Logger(label: "clientele.store")
    ) throws -> any ClientStore {
        switch url {
        case .sqlite(let path, let options):
            return try SQLiteClientStore(path: path, options: options, key: key)
        case .postgres(let location):
            let deploymentKey: DeploymentKey?
            switch key {
            case .file(let file): deploymentKey = try DeploymentKey.read(file: file)
            case .key(let given): deploymentKey = given
            case .none: deploymentKey = nil
            case .besideStore:
                throw StoreError(.invalidKey, """
                    a PostgreSQL store is shared by workers on several hosts: give each the same deployment key \
                    (CLIENTELE_ERASURE_KEY_FILE: 64 hex digits, e.g. from `openssl rand -hex 32`)
                    """)
            }
            return try PostgresClientStore(location: location, poolSize: poolSize, key: deploymentKey, startupTimeout: startupTimeout, logger: logger)
        }
    }
}
