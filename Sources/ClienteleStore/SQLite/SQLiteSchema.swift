import GRDB

/// The SQLite schema, as numbered migrations. Never edit a shipped migration: add one.
enum SQLiteSchema {
    /// The index the churn sweep reads due clients from (created by migration v5). A rescheduling
    /// pass drops it while it rewrites every review time and builds it again at its end; opening
    /// the store builds it when a pass was interrupted.
    static let reviewIndex = "clients_by_next_review"

    /// Creates ``reviewIndex`` unless it exists, with migration v5's definition.
    static let createReviewIndex = "CREATE INDEX IF NOT EXISTS \(reviewIndex) ON clients(next_review_at) WHERE next_review_at IS NOT NULL"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: clients, idempotency, tasks, status changes, outbox") { db in
            try db.execute(sql: """
                CREATE TABLE clients (
                    client_id TEXT PRIMARY KEY NOT NULL,
                    status TEXT,
                    status_changed_at INTEGER,
                    purchase_count INTEGER NOT NULL DEFAULT 0,
                    first_purchase_at INTEGER,
                    last_purchase_at INTEGER,
                    total_amount INTEGER NOT NULL DEFAULT 0,
                    total_margin INTEGER NOT NULL DEFAULT 0,
                    total_discount INTEGER NOT NULL DEFAULT 0,
                    refund_count INTEGER NOT NULL DEFAULT 0,
                    refund_total INTEGER NOT NULL DEFAULT 0,
                    currency TEXT,
                    last_event_at INTEGER
                ) WITHOUT ROWID;

                -- One row per accepted input event: the idempotency key (occurred_at for retention).
                CREATE TABLE processed_events (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    occurred_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE tasks (
                    task_id TEXT PRIMARY KEY NOT NULL,
                    client_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    priority TEXT NOT NULL,
                    due_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    caused_by TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX tasks_by_client ON tasks(client_id, created_at);

                -- Append-only history (each accepted event changes a status at most once, so it
                -- needs no unique key of its own); looked up per client.
                CREATE TABLE status_changes (
                    event_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    previous_status TEXT,
                    changed_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    caused_by TEXT NOT NULL,
                    purchase_count INTEGER NOT NULL
                );
                CREATE INDEX status_changes_by_client ON status_changes(client_id, changed_at);

                -- Transactional outbox: written with the state change, published by the relay.
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    topic TEXT NOT NULL,
                    message_key TEXT NOT NULL,
                    payload BLOB,
                    message_id TEXT NOT NULL
                );

                -- Which relay may publish the outbox, until when (wall-clock milliseconds).
                CREATE TABLE relay_lease (
                    name TEXT PRIMARY KEY NOT NULL,
                    holder TEXT NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: contacts, consent, suppressed tasks, erasure") { db in
            try db.execute(sql: """
                ALTER TABLE clients ADD COLUMN temperature TEXT;
                ALTER TABLE clients ADD COLUMN qualification TEXT;          -- BANT facts, JSON
                ALTER TABLE clients ADD COLUMN last_inbound_inquiry_at INTEGER;
                ALTER TABLE clients ADD COLUMN last_service_use_at INTEGER;
                ALTER TABLE clients ADD COLUMN last_contact_at INTEGER;
                ALTER TABLE clients ADD COLUMN complaint_count INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE clients ADD COLUMN last_complaint_at INTEGER;
                ALTER TABLE clients ADD COLUMN last_satisfaction INTEGER;
                ALTER TABLE clients ADD COLUMN last_satisfaction_at INTEGER;
                ALTER TABLE clients ADD COLUMN consent INTEGER;             -- 1 granted, 0 withdrawn
                ALTER TABLE clients ADD COLUMN consent_changed_at INTEGER;
                ALTER TABLE clients ADD COLUMN contact_history TEXT;        -- tallies by kind and channel, JSON
                ALTER TABLE status_changes ADD COLUMN temperature TEXT;

                -- Tasks a policy held back (e.g. marketing without consent), for audit.
                CREATE TABLE suppressed_tasks (
                    task_id TEXT PRIMARY KEY NOT NULL,
                    client_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    priority TEXT NOT NULL,
                    due_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    caused_by TEXT NOT NULL,
                    suppressed_because TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX suppressed_tasks_by_client ON suppressed_tasks(client_id, created_at);

                -- Clients who asked to be forgotten: only a SHA-256 of their id is kept, so that
                -- later or replayed events for them are ignored.
                CREATE TABLE erased_clients (
                    client_hash TEXT PRIMARY KEY NOT NULL,
                    erased_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3: purchase days, fitted models") { db in
            try db.execute(sql: """
                -- Each client's purchase value per UTC day: the history the churn models read.
                -- Keyed day first: a live stream appends to the last pages instead of touching
                -- every client's page in every batch.
                CREATE TABLE purchase_days (
                    day INTEGER NOT NULL,
                    client_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    PRIMARY KEY (day, client_id)
                ) WITHOUT ROWID;

                -- Fitted models, newest version last; workers read the newest.
                CREATE TABLE models (
                    version INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    parameters TEXT NOT NULL,
                    log_likelihood REAL NOT NULL,
                    clients INTEGER NOT NULL,
                    as_of INTEGER NOT NULL,
                    fitted_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4: purchase-day totals on the client") { db in
            try db.execute(sql: """
                ALTER TABLE clients ADD COLUMN purchase_days INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE clients ADD COLUMN first_purchase_day INTEGER;
                ALTER TABLE clients ADD COLUMN last_purchase_day INTEGER;
                ALTER TABLE clients ADD COLUMN first_day_amount INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE clients ADD COLUMN purchase_days_amount INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v5: churn reviews, event clock, recent purchase days") { db in
            try db.execute(sql: """
                ALTER TABLE clients ADD COLUMN recent_purchase_days TEXT;  -- newest distinct days, comma-separated
                ALTER TABLE clients ADD COLUMN next_review_at INTEGER;     -- when the churn rules next look
                -- The sweep reads only the due clients.
                CREATE INDEX clients_by_next_review ON clients(next_review_at) WHERE next_review_at IS NOT NULL;
                -- Tasks clustered by client and kind (a task id is derived from both, so it stays
                -- the idempotency key): a client's tasks, and the newest of a kind for cooldowns,
                -- are read from one place, and a write touches one B-tree instead of three.
                CREATE TABLE tasks_v5 (
                    client_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    priority TEXT NOT NULL,
                    due_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    caused_by TEXT NOT NULL,
                    PRIMARY KEY (client_id, kind, task_id)
                ) WITHOUT ROWID;
                INSERT INTO tasks_v5 (client_id, kind, task_id, priority, due_at, created_at, reason, caused_by)
                    SELECT client_id, kind, task_id, priority, due_at, created_at, reason, caused_by FROM tasks;
                DROP TABLE tasks;
                ALTER TABLE tasks_v5 RENAME TO tasks;

                -- Newest event time per input partition (and when it last advanced, wall clock);
                -- the event clock is the oldest of them over the partitions not idle.
                CREATE TABLE event_clock (
                    source TEXT PRIMARY KEY NOT NULL,
                    newest_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE settings (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;

                -- Clients stored before this version: their newest purchase days.
                UPDATE clients SET recent_purchase_days = recent.days
                FROM (SELECT client_id, group_concat(day) AS days FROM (
                          SELECT client_id, day, row_number() OVER (PARTITION BY client_id ORDER BY day DESC) AS n
                          FROM purchase_days)
                      WHERE n <= 21 GROUP BY client_id) AS recent
                WHERE recent.client_id = clients.client_id;
                """)
        }
        migrator.registerMigration("v6: event time across the two streams") { db in
            try db.execute(sql: """
                -- Every consent statement (JSON [[1|0, ms], …], oldest first): a task is checked
                -- against the consent that stood when its cause happened.
                ALTER TABLE clients ADD COLUMN consent_history TEXT;
                UPDATE clients SET consent_history = '[[' || consent || ',' || consent_changed_at || ']]'
                    WHERE consent IS NOT NULL AND consent_changed_at IS NOT NULL;

                -- How far each input stream has been read, per partition, in event time: every
                -- event before complete_before has been read. Only ever raised.
                CREATE TABLE stream_progress (
                    stream TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    complete_before INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (stream, partition)
                ) WITHOUT ROWID;

                -- Events read before the other stream reached their time, per partition and stream
                -- (rank: 0 contacts, 1 purchases) in event-time order (sequence: the offset).
                -- Applied, and deleted, once both streams are complete up to them.
                CREATE TABLE waiting_events (
                    partition INTEGER NOT NULL,
                    rank INTEGER NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    waiting_since INTEGER NOT NULL,
                    PRIMARY KEY (partition, rank, occurred_at, sequence, event_id)
                ) WITHOUT ROWID;
                -- A waiting event that could not be read back (kept, never silently lost).
                CREATE TABLE unreadable_waiting_events (
                    event_id TEXT NOT NULL,
                    rank INTEGER NOT NULL,
                    partition INTEGER NOT NULL,
                    client_id TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    reason TEXT NOT NULL,
                    found_at INTEGER NOT NULL
                );
                -- An erasure removes the client's waiting events.
                CREATE INDEX waiting_events_by_client ON waiting_events(client_id);
                """)
        }
        migrator.registerMigration("v7: idempotency per stream and content, keyed erasure records") { db in
            try db.execute(sql: """
                -- The id of an event is unique within its stream only (a shop and a CRM have their own
                -- sequences); the keyed fingerprint of its content tells a redelivery from another
                -- event under a seen id; where it was first read, for the dead letter of a conflict.
                CREATE TABLE processed_events_v7 (
                    stream TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    content BLOB NOT NULL,
                    source_partition INTEGER NOT NULL,
                    source_offset INTEGER NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    PRIMARY KEY (stream, event_id)
                ) WITHOUT ROWID;
                -- Erasure records become keyed hashes (re-keyed by the first worker with the key).
                ALTER TABLE erased_clients ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
                -- Purchases converted to the reporting currency: what was sent.
                CREATE TABLE converted_purchases (
                    client_id TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    original_amount INTEGER NOT NULL,
                    original_currency TEXT NOT NULL,
                    rate TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    PRIMARY KEY (client_id, occurred_at, event_id)
                ) WITHOUT ROWID;
                """)
            // Records of events accepted before: ids without their stream, read as seen on both.
            if try Int.fetchOne(db, sql: "SELECT count(*) FROM processed_events") ?? 0 > 0 {
                try db.execute(sql: "ALTER TABLE processed_events RENAME TO processed_events_legacy")
            } else {
                try db.execute(sql: "DROP TABLE processed_events")
            }
            try db.execute(sql: "ALTER TABLE processed_events_v7 RENAME TO processed_events")
        }
        migrator.registerMigration("v8: when each outbox message was written") { db in
            // Wall-clock milliseconds; 0 for messages written before this migration (age unknown).
            try db.execute(sql: "ALTER TABLE outbox ADD COLUMN written_at INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }
}
