/// Opens the store a `DATABASE_URL` names.
public enum StoreOpener {
    /// Opens the store with the deployment key from `key` (by default, for SQLite, a file beside
    /// the database, created by the first process that opens it).
    public static func open(_ url: DatabaseURL, key: DeploymentKeySource = .besideStore) throws -> any ClientStore {
        switch url {
        case .sqlite(let path, let options):
            return try SQLiteClientStore(path: path, options: options, key: key)
        case .postgres:
            throw StoreError(.unsupportedBackend,
                "DATABASE_URL names PostgreSQL, which this version does not support yet; use sqlite:PATH")
        }
    }
}
