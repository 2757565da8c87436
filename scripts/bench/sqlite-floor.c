/*
 * The SQLite floor of the Python peer's purchase path: exactly the statements
 * scripts/bench/peer_purchase_worker.py runs per event and per batch of 1,000
 * (INSERT OR IGNORE into processed, SELECT the client, INSERT or UPDATE it, the
 * outbox rows of a status change, COMMIT, then the relay's SELECT of new outbox
 * rows and UPDATE ... SET published = 1), with the same schema and PRAGMAs, through
 * prepared statements in C. No Kafka, no JSON parsing, no interpreter: what any
 * worker that stores what the peer stores must spend at least, on this machine.
 *
 *   cc -O2 -o sqlite-floor sqlite-floor.c -lsqlite3
 *   ./sqlite-floor DATABASE [EVENTS] [CLIENTS] [EVENTS_PER_COMMIT]
 *
 * EVENTS_PER_COMMIT is the peer's 1,000 unless given (the workers commit up to
 * 20,000 at a time: the same SQL in larger transactions writes fewer pages).
 *
 * Prints events/s and microseconds per event (wall and CPU). The client of each
 * event is drawn like the benchmark's generator draws it (uniform over CLIENTS).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite-floor: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *statement = NULL;
    check(sqlite3_prepare_v2(db, sql, -1, &statement, NULL), db, sql);
    return statement;
}

static void run(sqlite3_stmt *statement, sqlite3 *db, const char *what) {
    check(sqlite3_step(statement), db, what);
    sqlite3_reset(statement);
}

static double seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static const char *status_for(long count) { return count == 1 ? "new" : (count >= 3 ? "regular" : "active"); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: sqlite-floor DATABASE [EVENTS] [CLIENTS] [EVENTS_PER_COMMIT]\n"); return 64; }
    const char *path = argv[1];
    long events = argc > 2 ? atol(argv[2]) : 300000, clients = argc > 3 ? atol(argv[3]) : 30000;
    long per_commit = argc > 4 ? atol(argv[4]) : 1000;
    if (events < 1 || clients < 1 || per_commit < 1) { fprintf(stderr, "sqlite-floor: EVENTS, CLIENTS and EVENTS_PER_COMMIT must be positive\n"); return 64; }
    if (events <= 0 || clients <= 0) { fprintf(stderr, "sqlite-floor: EVENTS and CLIENTS must be positive\n"); return 64; }
    char name[4096];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) { snprintf(name, sizeof name, "%s%s", path, suffixes[i]); unlink(name); }

    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        "CREATE TABLE clients(client_id TEXT PRIMARY KEY, status TEXT, first_purchase_at TEXT,"
        "  last_purchase_at TEXT, purchase_count INTEGER, total_amount REAL, total_margin REAL);"
        "CREATE TABLE processed(event_id TEXT PRIMARY KEY);"
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, topic TEXT, key TEXT, payload TEXT, published INTEGER DEFAULT 0);",
        NULL, NULL, NULL), db, "schema");
    sqlite3_stmt *processed = prepare(db, "INSERT OR IGNORE INTO processed VALUES (?)");
    sqlite3_stmt *select_client = prepare(db, "SELECT status, purchase_count, first_purchase_at, last_purchase_at FROM clients WHERE client_id=?");
    sqlite3_stmt *insert_client = prepare(db, "INSERT INTO clients VALUES (?,?,?,?,?,?,?)");
    sqlite3_stmt *update_client = prepare(db, "UPDATE clients SET status=?, first_purchase_at=?, last_purchase_at=?, purchase_count=?, total_amount=total_amount+?, total_margin=total_margin+? WHERE client_id=?");
    sqlite3_stmt *outbox = prepare(db, "INSERT INTO outbox(topic,key,payload) VALUES (?,?,?)");
    sqlite3_stmt *relay = prepare(db, "SELECT id, topic, key, payload FROM outbox WHERE id>? ORDER BY id");
    sqlite3_stmt *published = prepare(db, "UPDATE outbox SET published=1 WHERE id>? AND id<=?");
    sqlite3_stmt *begin = prepare(db, "BEGIN"), *commit = prepare(db, "COMMIT");

    srand48(1);
    long last_published = 0, relayed_bytes = 0, messages = 0;
    double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (long start = 0; start < events; start += per_commit) {
        run(begin, db, "BEGIN");
        long end = start + per_commit < events ? start + per_commit : events;
        for (long index = start; index < end; index++) {
            char event_id[32], client_id[16], at[32], payload[256];
            snprintf(event_id, sizeof event_id, "p-1-%ld", index);
            snprintf(client_id, sizeof client_id, "C%06d", (int)(drand48() * clients) % 1000000 + 1);
            long second = index * 86400L * 365 / events;
            snprintf(at, sizeof at, "2026-%02ld-%02ldT%02ld:%02ld:00Z", second / 2592000 % 12 + 1, second / 86400 % 28 + 1, second / 3600 % 24, second / 60 % 60);
            double amount = 5 + drand48() * 295, margin = amount * 0.3;

            sqlite3_bind_text(processed, 1, event_id, -1, SQLITE_TRANSIENT);
            check(sqlite3_step(processed), db, "processed");
            sqlite3_reset(processed);
            if (sqlite3_changes(db) == 0) continue;

            sqlite3_bind_text(select_client, 1, client_id, -1, SQLITE_TRANSIENT);
            const char *previous = "prospect";
            char previous_status[16], first[32], last[32];
            long count = 1;
            if (sqlite3_step(select_client) == SQLITE_ROW) {
                snprintf(previous_status, sizeof previous_status, "%s", sqlite3_column_text(select_client, 0));
                previous = previous_status;
                count = sqlite3_column_int64(select_client, 1) + 1;
                snprintf(first, sizeof first, "%s", sqlite3_column_text(select_client, 2));
                snprintf(last, sizeof last, "%s", sqlite3_column_text(select_client, 3));
                sqlite3_reset(select_client);
                if (strcmp(at, first) < 0) snprintf(first, sizeof first, "%s", at);
                if (strcmp(at, last) > 0) snprintf(last, sizeof last, "%s", at);
                sqlite3_bind_text(update_client, 1, status_for(count), -1, SQLITE_STATIC);
                sqlite3_bind_text(update_client, 2, first, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(update_client, 3, last, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(update_client, 4, count);
                sqlite3_bind_double(update_client, 5, amount);
                sqlite3_bind_double(update_client, 6, margin);
                sqlite3_bind_text(update_client, 7, client_id, -1, SQLITE_TRANSIENT);
                run(update_client, db, "update client");
            } else {
                sqlite3_reset(select_client);
                sqlite3_bind_text(insert_client, 1, client_id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert_client, 2, "new", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert_client, 3, at, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert_client, 4, at, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(insert_client, 5, 1);
                sqlite3_bind_double(insert_client, 6, amount);
                sqlite3_bind_double(insert_client, 7, margin);
                run(insert_client, db, "insert client");
            }
            const char *status = status_for(count);
            if (strcmp(status, previous) != 0) {
                snprintf(payload, sizeof payload, "{\"clientId\": \"%s\", \"status\": \"%s\", \"previousStatus\": \"%s\", \"causedBy\": \"%s\"}", client_id, status, previous, event_id);
                sqlite3_bind_text(outbox, 1, "client-status", -1, SQLITE_STATIC);
                sqlite3_bind_text(outbox, 2, client_id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(outbox, 3, payload, -1, SQLITE_TRANSIENT);
                run(outbox, db, "outbox");
                if (count == 1) {
                    snprintf(payload, sizeof payload, "{\"taskId\": \"welcome-%s\", \"clientId\": \"%s\", \"kind\": \"welcome_new_client\"}", client_id, client_id);
                    sqlite3_bind_text(outbox, 1, "follow-up-tasks", -1, SQLITE_STATIC);
                    sqlite3_bind_text(outbox, 2, client_id, -1, SQLITE_TRANSIENT);
                    sqlite3_bind_text(outbox, 3, payload, -1, SQLITE_TRANSIENT);
                    run(outbox, db, "outbox");
                }
            }
        }
        run(commit, db, "COMMIT");
        sqlite3_bind_int64(relay, 1, last_published);
        long newest = last_published;
        while (sqlite3_step(relay) == SQLITE_ROW) {
            newest = sqlite3_column_int64(relay, 0);
            relayed_bytes += sqlite3_column_bytes(relay, 3);
            messages++;
        }
        sqlite3_reset(relay);
        if (newest > last_published) {
            sqlite3_bind_int64(published, 1, last_published);
            sqlite3_bind_int64(published, 2, newest);
            run(published, db, "published");
            last_published = newest;
        }
    }
    wall = seconds(CLOCK_MONOTONIC) - wall;
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    printf("sqlite floor of the peer's writes: %ld events, %ld outbox messages (%ld payload bytes) in %.2fs = %.0f events/s; "
           "%.2f us wall, %.2f us CPU per event\n",
           events, messages, relayed_bytes, wall, events / wall, wall * 1e6 / events, cpu * 1e6 / events);
    sqlite3_close(db);
    return 0;
}
