/// Opens the store a `DATABASE_URL` names.
public enum StoreOpener {
    public static func open(_ url: DatabaseURL) throws -> any ClientStore {
        switch url {
        case .sqlite(let path, let options):
            return try SQLiteClientStore(path: path, options: options)
        case .postgres:
            throw StoreError(.unsupportedBackend,
                "DATABASE_URL names PostgreSQL, which this version does not support yet; use sqlite:PATH")
        }
    }
}
