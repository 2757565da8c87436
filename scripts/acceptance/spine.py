#!/usr/bin/env python3
"""Acceptance check of the spine with an independent Kafka client (confluent-kafka).

Starts `clientele broker` and `purchase-worker`, produces N purchases for C clients (plus 5%
re-sent duplicates) with confluent-kafka, waits for the worker, then checks:
  - one `new` client-status event and one `welcome_new_client` task per client (by stable id);
  - `clientele client show ID --json` reports purchase counts equal to the distinct events sent
    (every client through SQL, a sample through the CLI);
and prints the figures. Usage: spine.py BIN_DIR [EVENTS] [CLIENTS]
"""
import json, os, random, signal, sqlite3, subprocess, sys, tempfile, time
from collections import Counter, defaultdict

from confluent_kafka import Consumer, Producer

bin_dir = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
work = tempfile.mkdtemp(prefix="clientele-acceptance-")
db_path = os.path.join(work, "clientele.sqlite")

broker = subprocess.Popen([os.path.join(bin_dir, "clientele"), "broker"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
line = broker.stdout.readline().strip()
assert line.startswith("bootstrap.servers="), line
bootstrap = line.split("=", 1)[1]
print(f"broker: {bootstrap}")

env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=f"sqlite:{db_path}",
           KAFKA_FETCH_WAIT_MAX_MS="5", CLIENTELE_LOG_LEVEL="notice")
worker_log = open(os.path.join(work, "purchase-worker.log"), "w")
worker = subprocess.Popen([os.path.join(bin_dir, "purchase-worker")], env=env, stderr=worker_log, stdout=worker_log)

rng = random.Random(2026)
sent = defaultdict(set)  # clientId -> distinct purchase eventIds
messages = []
for i in range(events):
    client = f"A{rng.randrange(clients):06d}"
    eid = f"acc-{i}"
    body = {"eventId": eid, "clientId": client,
            "occurredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1767225600 + i * 60)),
            "amount": round(rng.uniform(5, 300), 2), "currency": "EUR", "channel": "web", "items": 1}
    messages.append((client, json.dumps(body)))
    sent[client].add(eid)
messages += rng.sample(messages, events // 20)  # duplicates: must count once

producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
start = time.time()
for key, value in messages:
    while True:
        try:
            producer.produce("purchases", key=key, value=value)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
producer.flush(60)
del producer  # closes its connections before the broker stops
print(f"produced {len(messages)} messages ({events} distinct events, {len(sent)} clients) in {time.time() - start:.1f} s")

def accepted():
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            return db.execute("select count(*) from processed_events").fetchone()[0], \
                   db.execute("select count(*) from outbox").fetchone()[0]
    except sqlite3.Error:
        return 0, -1

deadline = time.time() + 600
while time.time() < deadline:
    done, backlog = accepted()
    if done >= events and backlog == 0:
        break
    time.sleep(0.5)
elapsed = time.time() - start
print(f"worker applied {done} events, outbox backlog {backlog}, {elapsed:.1f} s after the first send")

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "acceptance", "auto.offset.reset": "earliest",
                     "fetch.wait.max.ms": 5})
consumer.subscribe(["client-status", "follow-up-tasks"])
new_ids, welcome_ids, ids_seen = defaultdict(set), defaultdict(set), Counter()
quiet = time.time()
while time.time() - quiet < 5:
    batch = consumer.consume(10000, 0.2)
    if batch:
        quiet = time.time()
    for m in batch:
        if m.error():
            continue
        body = json.loads(m.value())
        ids_seen[m.topic()] += 1
        if m.topic() == "client-status" and body["status"] == "new":
            new_ids[body["clientId"]].add(body["eventId"])
        if m.topic() == "follow-up-tasks" and body["kind"] == "welcome_new_client":
            welcome_ids[body["clientId"]].add(body["taskId"])
consumer.close()

failures = []
if done != events:
    failures.append(f"applied {done} events, expected {events}")
if set(new_ids) != set(sent) or any(len(v) != 1 for v in new_ids.values()):
    failures.append(f"`new` status events: {len(new_ids)} clients, expected one each for {len(sent)}")
if set(welcome_ids) != set(sent) or any(len(v) != 1 for v in welcome_ids.values()):
    failures.append(f"welcome tasks: {len(welcome_ids)} clients, expected one each for {len(sent)}")
with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
    counts = dict(db.execute("select client_id, purchase_count from clients"))
wrong = [c for c in sent if counts.get(c) != len(sent[c])]
if wrong:
    failures.append(f"{len(wrong)} clients with a purchase count different from the distinct events sent")
for client in rng.sample(sorted(sent), 200):
    shown = json.loads(subprocess.check_output(
        [os.path.join(bin_dir, "clientele"), "client", "show", client, "--json", "--database", f"sqlite:{db_path}"]))
    if shown["purchaseCount"] != len(sent[client]):
        failures.append(f"client show {client}: {shown['purchaseCount']} != {len(sent[client])}")

worker.send_signal(signal.SIGTERM)
worker_status = worker.wait(60)
broker.send_signal(signal.SIGTERM)
broker.wait(10)
print(f"published: {ids_seen['client-status']} client-status, {ids_seen['follow-up-tasks']} follow-up-tasks; "
      f"worker exit {worker_status}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"OK: {events} events for {len(sent)} clients; one `new` and one welcome task per client; "
      f"purchase counts match for all clients (200 checked through `clientele client show`)")
