#!/usr/bin/env python3
"""Acceptance check of the replicas on PostgreSQL, with an independent Kafka client (confluent-kafka).

Starts `clientele broker`, two purchase-workers, a contact-worker and a churn-worker on one
PostgreSQL database; produces N purchases for C clients (plus 5% re-sent duplicates and a few
malformed messages) with confluent-kafka; SIGKILLs one purchase-worker mid-load and starts it
again; then checks, on what was published and on the database:
  - every client's purchase count equals the distinct events sent (all clients, through psql);
  - one `welcome_new_client` task id per client;
  - each client's status events in the order they happened (`new` first, each change at or after the
    one before it, in event time: `new` before `active` before `regular`);
  - every malformed message on `purchases.dlq` with a reason.
Usage: replicas_postgres.py BIN_DIR DATABASE_URL PSQL [EVENTS] [CLIENTS]
(DATABASE_URL: an empty database; PSQL: a psql binary that can reach it without a password.)
"""
import json, os, random, signal, subprocess, sys, tempfile, time
from collections import defaultdict

from confluent_kafka import Consumer, Producer

bin_dir, database_url, psql = sys.argv[1], sys.argv[2], sys.argv[3]
events = int(sys.argv[4]) if len(sys.argv) > 4 else 200_000
clients = int(sys.argv[5]) if len(sys.argv) > 5 else 20_000
work = tempfile.mkdtemp(prefix="clientele-acceptance-pg-")
key_file = os.path.join(work, "deployment.key")
with open(key_file, "w") as f:
    f.write(os.urandom(32).hex())

broker = subprocess.Popen([os.path.join(bin_dir, "clientele"), "broker"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
line = broker.stdout.readline().strip()
assert line.startswith("bootstrap.servers="), line
bootstrap = line.split("=", 1)[1]
print(f"broker: {bootstrap}")

env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=database_url, CLIENTELE_ERASURE_KEY_FILE=key_file,
           KAFKA_FETCH_WAIT_MAX_MS="5", CLIENTELE_LOG_LEVEL="notice", CLIENTELE_STREAM_IDLE_SECONDS="2",
           # The history is dated months back: its tasks are published, not held back as stale.
           CLIENTELE_TASK_MAX_AGE="36500d")
env = {k: v for k, v in env.items() if not k.startswith("CLIENTELE_TEST_")}
processes = {}


def start(name, label):
    log = open(os.path.join(work, f"{label}.log"), "a")
    processes[label] = subprocess.Popen([os.path.join(bin_dir, name)], env=env, stderr=log, stdout=log)


for name, label in [("purchase-worker", "purchase-1"), ("purchase-worker", "purchase-2"),
                    ("contact-worker", "contact"), ("churn-worker", "churn")]:
    start(name, label)

rng = random.Random(2027)
sent = defaultdict(list)  # clientId -> distinct purchase times, in order
messages = []
for i in range(events):
    client = f"R{rng.randrange(clients):06d}"
    eid = f"pg-acc-{i}"
    at = 1767225600 + i * 60
    body = {"eventId": eid, "clientId": client, "occurredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "amount": round(rng.uniform(5, 300), 2), "currency": "EUR", "channel": "web", "items": 1}
    messages.append((client, json.dumps(body)))
    sent[client].append(eid)
messages += rng.sample(messages, events // 20)  # duplicates: must count once
malformed = [("bad-1", "{not json"), ("bad-2", json.dumps({"eventId": "x", "clientId": "bad-2"})),
             ("bad-3", json.dumps({"eventId": "y", "clientId": "bad-3", "occurredAt": "2026-01-01T00:00:00Z",
                                   "amount": -5, "currency": "EUR"}))]

producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
start_time = time.time()
killed = False
for index, (key, value) in enumerate(messages + malformed):
    while True:
        try:
            producer.produce("purchases", key=key, value=value)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
producer.flush(60)
del producer
print(f"produced {len(messages)} messages ({events} distinct events, {len(sent)} clients) and {len(malformed)} malformed "
      f"in {time.time() - start_time:.1f} s")


def query(sql):
    out = subprocess.check_output([psql, database_url.replace("?sslmode=disable", ""), "-qAt", "-F", "\t", "-c", sql], text=True)
    return [row.split("\t") for row in out.splitlines() if row]


def accepted():
    try:
        return int(query("select count(*) from processed_events")[0][0]), int(query("select count(*) from outbox")[0][0])
    except (subprocess.CalledProcessError, IndexError):
        return 0, -1


# SIGKILL one replica mid-load, then start it again.
deadline = time.time() + 900
while time.time() < deadline:
    done, backlog = accepted()
    if not killed and done >= events // 3:
        processes["purchase-1"].send_signal(signal.SIGKILL)
        processes["purchase-1"].wait()
        killed = True
        print(f"SIGKILLed purchase-1 at {done} applied events; starting it again")
        start("purchase-worker", "purchase-1")
    if killed and done >= events and backlog == 0:
        break
    time.sleep(0.5)
elapsed = time.time() - start_time
print(f"workers applied {done} events, outbox backlog {backlog}, {elapsed:.1f} s after the first send")

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "acceptance-pg", "auto.offset.reset": "earliest",
                     "fetch.wait.max.ms": 5})
consumer.subscribe(["client-status", "follow-up-tasks", "purchases.dlq"])
welcome_ids = defaultdict(set)
statuses = defaultdict(list)  # clientId -> statuses in the order published
dead_letters = []
quiet = time.time()
while time.time() - quiet < 8:
    batch = consumer.consume(10000, 0.2)
    if batch:
        quiet = time.time()
    for m in batch:
        if m.error() or m.value() is None:
            continue
        if m.topic() == "purchases.dlq":
            dead_letters.append(dict(m.headers() or []))
            continue
        body = json.loads(m.value())
        if m.topic() == "client-status":
            statuses[body["clientId"]].append((body["status"], body.get("changedAt", "")))
        if m.topic() == "follow-up-tasks" and body["kind"] == "welcome_new_client":
            welcome_ids[body["clientId"]].add(body["taskId"])
consumer.close()

failures = []
if done != events:
    failures.append(f"applied {done} events, expected {events}")
counts = {client: int(count) for client, count in query("select client_id, purchase_count from clients")}
wrong = [c for c in sent if counts.get(c) != len(sent[c])]
if wrong:
    failures.append(f"{len(wrong)} clients with a purchase count different from the distinct events sent, e.g. {wrong[:3]}")
if set(welcome_ids) != set(sent) or any(len(v) != 1 for v in welcome_ids.values()):
    failures.append(f"welcome tasks: {len(welcome_ids)} clients, expected exactly one task id each for {len(sent)}")
out_of_order = 0
for client, seen in statuses.items():
    # Redeliveries (at least once) repeat an event; what matters is the order of first appearances:
    # `new` first, then every change at or after the one before it, in event time.
    first = []
    for status, changed in seen:
        if (status, changed) not in first:
            first.append((status, changed))
    times = [changed for _, changed in first]
    if first[0][0] != "new" or times != sorted(times):
        out_of_order += 1
if out_of_order:
    failures.append(f"{out_of_order} clients whose status events are out of order")
reasons = [h.get("clientele.reason", b"").decode() if isinstance(h.get("clientele.reason"), bytes) else h.get("clientele.reason")
           for h in dead_letters]
if len(dead_letters) < len(malformed) or not all(reasons):
    failures.append(f"dead letters: {len(dead_letters)} (expected {len(malformed)}), reasons {reasons}")

for label, process in processes.items():
    process.send_signal(signal.SIGTERM)
exits = {label: process.wait(60) for label, process in processes.items()}
broker.send_signal(signal.SIGTERM)
broker.wait(10)
print(f"published: status events for {len(statuses)} clients, welcome tasks for {len(welcome_ids)}, "
      f"{len(dead_letters)} dead letters (reasons {sorted(set(reasons))}); exits {exits}")
if any(code != 0 for code in exits.values()):
    failures.append(f"a worker did not stop cleanly: {exits}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"OK: {events} events for {len(sent)} clients on PostgreSQL with two purchase-worker replicas (one SIGKILLed and "
      f"restarted): purchase counts exact for every client, one welcome task id per client, status events in order, "
      f"malformed input dead-lettered with a reason")
