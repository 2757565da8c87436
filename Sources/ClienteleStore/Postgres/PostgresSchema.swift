import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations (the same tables as SQLite's, typed for
/// PostgreSQL). Never edit a shipped migration: add one.
///
/// Replicas starting at the same moment migrate once: the first takes a session advisory lock,
/// the others wait for it and find the work done. A database migrated by a newer release (a
/// version this one does not know) is refused: this release would misread it.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var name: String
        var sql: [String]
    }

    /// Advisory-lock space of this product (`'CLNT'`), with keys: 0 migrations, 1 the relay,
    /// 2 rescheduling passes, 3 creating event-day partitions, 4 expiring them, 100 + n input partition n.
    static let lockSpace: Int32 = 0x434C_4E54
    static let migrationLock: Int32 = 0
    /// The transaction-level advisory lock that claims the next chunk of a rescheduling pass.
    static let rescheduleLock: Int32 = 2
    /// The transaction-level advisory lock under which day partitions of the event records are
    /// created (inside `clientele_ensure_event_days`).
    static let partitionLock: Int32 = 3
    /// The session advisory lock of the replica expiring event records.
    static let retentionLock: Int32 = 4

    static let migrations: [Migration] = [
        Migration(version: 1, name: "clients, idempotency, tasks, outbox, stream alignment, models", sql: [
            """
            CREATE TABLE clients (
                client_id text COLLATE "C" PRIMARY KEY,
                status text,
                status_changed_at bigint,
                purchase_count bigint NOT NULL DEFAULT 0,
                first_purchase_at bigint,
                last_purchase_at bigint,
                total_amount bigint NOT NULL DEFAULT 0,
                total_margin bigint NOT NULL DEFAULT 0,
                total_discount bigint NOT NULL DEFAULT 0,
                refund_count bigint NOT NULL DEFAULT 0,
                refund_total bigint NOT NULL DEFAULT 0,
                currency text,
                last_event_at bigint,
                temperature text,
                qualification text,
                last_inbound_inquiry_at bigint,
                last_service_use_at bigint,
                last_contact_at bigint,
                complaint_count bigint NOT NULL DEFAULT 0,
                last_complaint_at bigint,
                last_satisfaction bigint,
                last_satisfaction_at bigint,
                consent bigint,
                consent_changed_at bigint,
                contact_history text,
                purchase_days bigint NOT NULL DEFAULT 0,
                first_purchase_day bigint,
                last_purchase_day bigint,
                first_day_amount bigint NOT NULL DEFAULT 0,
                purchase_days_amount bigint NOT NULL DEFAULT 0,
                recent_purchase_days text,
                next_review_at bigint,
                consent_history text
            )
            """,
            "CREATE INDEX clients_by_next_review ON clients (next_review_at) WHERE next_review_at IS NOT NULL",
            """
            CREATE TABLE processed_events (
                stream text COLLATE "C" NOT NULL,
                event_id text COLLATE "C" NOT NULL,
                content bytea NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                occurred_at bigint NOT NULL,
                PRIMARY KEY (stream, event_id)
            )
            """,
            """
            CREATE TABLE tasks (
                client_id text COLLATE "C" NOT NULL,
                kind text NOT NULL,
                task_id text COLLATE "C" NOT NULL,
                priority text NOT NULL,
                due_at bigint NOT NULL,
                created_at bigint NOT NULL,
                reason text NOT NULL,
                caused_by text NOT NULL,
                PRIMARY KEY (client_id, kind, task_id)
            )
            """,
            """
            CREATE TABLE suppressed_tasks (
                task_id text COLLATE "C" PRIMARY KEY,
                client_id text COLLATE "C" NOT NULL,
                kind text NOT NULL,
                priority text NOT NULL,
                due_at bigint NOT NULL,
                created_at bigint NOT NULL,
                reason text NOT NULL,
                caused_by text NOT NULL,
                suppressed_because text NOT NULL
            )
            """,
            "CREATE INDEX suppressed_tasks_by_client ON suppressed_tasks (client_id, created_at)",
            """
            CREATE TABLE status_changes (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                event_id text NOT NULL,
                client_id text COLLATE "C" NOT NULL,
                status text NOT NULL,
                previous_status text,
                changed_at bigint NOT NULL,
                reason text NOT NULL,
                caused_by text NOT NULL,
                purchase_count bigint NOT NULL,
                temperature text
            )
            """,
            "CREATE INDEX status_changes_by_client ON status_changes (client_id, changed_at)",
            // Ids are assigned at insert, and commit out of order: the relay never polls "after
            // the last id seen". Rows of one client are written under that client's row lock, so
            // their ids follow their commit order.
            """
            CREATE TABLE outbox (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                topic text NOT NULL,
                message_key text COLLATE "C" NOT NULL,
                payload bytea,
                message_id text NOT NULL
            )
            """,
            "CREATE INDEX outbox_by_key ON outbox (message_key)",
            "CREATE TABLE relay_lease (name text PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL)",
            "CREATE TABLE erased_clients (client_hash text COLLATE \"C\" PRIMARY KEY, erased_at bigint NOT NULL)",
            """
            CREATE TABLE purchase_days (
                day bigint NOT NULL,
                client_id text COLLATE "C" NOT NULL,
                amount bigint NOT NULL,
                PRIMARY KEY (day, client_id)
            )
            """,
            "CREATE INDEX purchase_days_by_client ON purchase_days (client_id)",
            """
            CREATE TABLE models (
                version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                kind text NOT NULL,
                parameters text NOT NULL,
                log_likelihood double precision NOT NULL,
                clients bigint NOT NULL,
                as_of bigint NOT NULL,
                fitted_at bigint NOT NULL
            )
            """,
            "CREATE TABLE event_clock (source text PRIMARY KEY, newest_at bigint NOT NULL, updated_at bigint NOT NULL)",
            "CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL)",
            """
            CREATE TABLE stream_progress (
                stream text NOT NULL,
                partition integer NOT NULL,
                complete_before bigint NOT NULL,
                updated_at bigint NOT NULL,
                PRIMARY KEY (stream, partition)
            )
            """,
            """
            CREATE TABLE waiting_events (
                partition integer NOT NULL,
                rank integer NOT NULL,
                occurred_at bigint NOT NULL,
                sequence bigint NOT NULL,
                event_id text COLLATE "C" NOT NULL,
                client_id text COLLATE "C" NOT NULL,
                payload bytea NOT NULL,
                waiting_since bigint NOT NULL,
                PRIMARY KEY (partition, rank, occurred_at, sequence, event_id)
            )
            """,
            "CREATE INDEX waiting_events_by_client ON waiting_events (client_id)",
            """
            CREATE TABLE unreadable_waiting_events (
                event_id text NOT NULL,
                rank integer NOT NULL,
                partition integer NOT NULL,
                client_id text COLLATE "C" NOT NULL,
                payload bytea NOT NULL,
                reason text NOT NULL,
                found_at bigint NOT NULL
            )
            """,
            """
            CREATE TABLE converted_purchases (
                client_id text COLLATE "C" NOT NULL,
                occurred_at bigint NOT NULL,
                event_id text COLLATE "C" NOT NULL,
                kind text NOT NULL,
                original_amount bigint NOT NULL,
                original_currency text NOT NULL,
                rate text NOT NULL,
                amount bigint NOT NULL,
                PRIMARY KEY (client_id, occurred_at, event_id)
            )
            """,
        ]),
        // The event records, partitioned by the event's own (UTC) day so that retention drops
        // whole days instead of deleting rows. Existing records move into their day's partition.
        Migration(version: 2, name: "event records partitioned by event day", sql: [
            "ALTER TABLE processed_events RENAME TO processed_events_unpartitioned",
            "ALTER INDEX processed_events_pkey RENAME TO processed_events_unpartitioned_pkey",
            """
            CREATE TABLE processed_events (
                stream text COLLATE "C" NOT NULL,
                event_id text COLLATE "C" NOT NULL,
                event_day integer NOT NULL,
                content bytea NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                occurred_at bigint NOT NULL,
                PRIMARY KEY (stream, event_id, event_day)
            ) PARTITION BY RANGE (event_day)
            """,
            // Creates the partitions of the days given that do not exist yet, one creator at a time.
            """
            CREATE FUNCTION clientele_ensure_event_days(days integer[]) RETURNS integer LANGUAGE plpgsql AS $$
            DECLARE
                d integer;
                created integer := 0;
                partition_name text;
            BEGIN
                PERFORM pg_advisory_xact_lock(\(lockSpace), \(partitionLock));
                FOREACH d IN ARRAY days LOOP
                    partition_name := 'processed_events_' || to_char(date '1970-01-01' + d, 'YYYYMMDD');
                    IF to_regclass(partition_name) IS NULL THEN
                        EXECUTE format('CREATE TABLE %I PARTITION OF processed_events FOR VALUES FROM (%s) TO (%s)', partition_name, d, d + 1);
                        created := created + 1;
                    END IF;
                END LOOP;
                RETURN created;
            END $$
            """,
            """
            SELECT clientele_ensure_event_days(coalesce(array_agg(DISTINCT floor(occurred_at / 86400000.0)::integer), '{}'))
            FROM processed_events_unpartitioned
            """,
            """
            INSERT INTO processed_events (stream, event_id, event_day, content, source_partition, source_offset, occurred_at)
            SELECT stream, event_id, floor(occurred_at / 86400000.0)::integer, content, source_partition, source_offset, occurred_at
            FROM processed_events_unpartitioned
            """,
            "DROP TABLE processed_events_unpartitioned",
        ]),
        // When each outbox message was written (wall-clock milliseconds, the transaction's start),
        // for the backlog's age. Old releases' inserts leave it to the default: compatible.
        Migration(version: 3, name: "when each outbox message was written", sql: [
            "ALTER TABLE outbox ADD COLUMN written_at bigint NOT NULL DEFAULT (extract(epoch FROM now()) * 1000)::bigint",
        ]),
    ]

    /// The newest version this release knows.
    static var currentVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Brings the database to ``currentVersion`` under the migration lock, each migration in its
    /// own transaction; returns the versions applied (none when another replica did it).
    @discardableResult
    static func migrate(_ connection: PostgresConnection, through newest: Int = currentVersion, logger: Logger) async throws -> [Int] {
        try await connection.query("SELECT pg_advisory_lock(\(lockSpace), \(migrationLock))", logger: logger)
        do {
            let applied = try await migrateLocked(connection, through: newest, logger: logger)
            try await connection.query("SELECT pg_advisory_unlock(\(lockSpace), \(migrationLock))", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockSpace), \(migrationLock))", logger: logger)
            throw error
        }
    }

    private static func migrateLocked(_ connection: PostgresConnection, through newest: Int, logger: Logger) async throws -> [Int] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var done = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            done.insert(version)
        }
        if let newest = done.max(), newest > currentVersion {
            throw StoreError(.unavailable, """
                the PostgreSQL schema is at version \(newest), newer than this release knows (\(currentVersion)): \
                run the release that migrated it, or a newer one
                """)
        }
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) && migration.version <= newest {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            applied.append(migration.version)
        }
        return applied
    }
}
