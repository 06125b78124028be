#!/usr/bin/env python3
"""A seed-style client of the operator, standard library only (urllib, json).

It uses the API the way a script written against the seed would: create a job, drive it as an external
worker, poll its events with and without `since`, read the live stream with the seed's names
(`names=alias`) until it has seen `connected`, a heartbeat, every event and `end`, and check that
`runs/<id>/events.jsonl` holds the same events.

Usage: seed_client.py <base url> <token> <runs dir>
Prints one `ok: ...` line per check; exits 1 with `FAIL: ...` on the first failed one.
"""

import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE, TOKEN, RUNS = sys.argv[1], sys.argv[2], sys.argv[3]
API = BASE.rstrip("/") + "/api/v1"
SEED_FIELDS = ("job_id", "timestamp", "event_type", "stage", "status", "message")
ALIASES = {"ts": "timestamp", "type": "event_type", "payload": "metadata"}


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok: " + message, flush=True)


def call(method, path, body=None, query=None):
    url = API + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        fail("%s %s answered %s: %s" % (method, path, error.code, error.read().decode()))


def post(path, body=None):
    return call("POST", path, body if body is not None else {})[1]


def to_canonical(event):
    return {{v: k for k, v in ALIASES.items()}.get(k, k): v for k, v in event.items()}


class Stream:
    """Reads SSE frames (id, event, data) from a urllib response, line by line."""

    def __init__(self, path, query):
        url = API + path + "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN, "Accept": "text/event-stream"})
        self.response = urllib.request.urlopen(request, timeout=15)
        self.status = self.response.status
        self.content_type = self.response.headers.get("Content-Type", "")

    def frames(self):
        frame = {}
        while True:
            line = self.response.readline()
            if not line:
                return
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if "data" in frame:
                    yield frame
                frame = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            frame[field] = frame["data"] + "\n" + value if field == "data" and "data" in frame else value

    def close(self):
        self.response.close()


# 1. Create a job and drive it to its gate, as an external worker would.
job = post("/jobs", {"pipeline": "external", "params": {"topic": "seed client"}})["job"]
job_id = job["job_id"]
check(job["status"] == "queued", "created job %s (queued)" % job_id)
post("/jobs/%s/start" % job_id)
post("/jobs/%s/stages/ingest/start" % job_id, {"message": "worker picked it up", "metadata": {"worker": "py"}})
post("/jobs/%s/stages/ingest/complete" % job_id, {"message": "ingested", "metadata": {"rows": 3}, "timestamp": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()})
post("/jobs/%s/stages/review/start" % job_id)
post("/jobs/%s/stages/review/complete" % job_id)

# 2. Poll: the latest events, then from a time (a naive isoformat(), as Python writes it).
_, latest = call("GET", "/jobs/%s/events" % job_id)
check([e["seq"] for e in latest["events"]] == list(range(len(latest["events"]))), "polled %d events in order" % len(latest["events"]))
third = latest["events"][2]
naive = datetime.datetime.fromisoformat(third["ts"].replace("Z", "+00:00")).replace(tzinfo=None).isoformat()
_, since = call("GET", "/jobs/%s/events" % job_id, query={"since": naive, "names": "alias"})
check(since["events"] and since["events"][0]["seq"] <= third["seq"] and since["events"][-1]["seq"] == latest["head"], "polled with since=%s (naive, UTC)" % naive)
check(all(f in e for e in since["events"] for f in SEED_FIELDS + ("metadata",)), "polled events carry the seed's fields with names=alias")
_, clamped = call("GET", "/jobs/%s/events" % job_id, query={"limit": 100000})
check(clamped["limit"] == 1000, "a limit above the maximum is clamped (limit=%s)" % clamped["limit"])

# 3. The stream with the seed's names: connected, the history, a heartbeat while paused, then live to the end.
stream = Stream("/jobs/%s/events/stream" % job_id, {"after": -1, "names": "alias"})
check(stream.status == 200 and stream.content_type.startswith("text/event-stream"), "stream open (%s)" % stream.content_type)
seen, heartbeats, connected, ended, driven = [], 0, False, False, False
deadline = time.time() + 30
for frame in stream.frames():
    if time.time() > deadline:
        fail("the stream did not end in 30 s")
    kind = frame.get("event")
    data = json.loads(frame["data"])
    if kind == "connected":
        connected = True
    elif kind == "end":
        ended = True
        break
    elif kind is None and data.get("event_type") == "heartbeat":
        heartbeats += 1
        check("id" not in frame and data["job_id"] == job_id and "timestamp" in data, "heartbeat %s" % data["timestamp"])
    elif kind is None:
        check(frame.get("id") == str(data["seq"]), "event %s %s (id %s)" % (data["seq"], data["event_type"], frame.get("id")))
        seen.append(data)
    if heartbeats > 0 and not driven:
        # Live part: the rest of the job happens while the stream is open.
        driven = True
        post("/jobs/%s/gates/review/approve" % job_id, {"comment": "fine", "metadata": {"ticket": "PY-1"}})
        post("/jobs/%s/stages/publish/start" % job_id)
        post("/jobs/%s/stages/publish/complete" % job_id)
stream.close()
check(connected, "saw connected")
check(heartbeats >= 1, "saw %d heartbeat(s)" % heartbeats)
check(ended, "saw end")
check([e["seq"] for e in seen] == list(range(len(seen))) and seen[-1]["event_type"] == "job_completed", "saw all %d events, job_completed last" % len(seen))
check(all(all(f in e for f in SEED_FIELDS + ("metadata",)) and "ts" not in e and "type" not in e for e in seen), "every streamed event has the seed's six fields and the alias names")
check(any(e["metadata"].get("worker") == "py" for e in seen), "the worker's metadata came back")

# 4. A reconnect at the last event is 204: the job is finished.
request = urllib.request.Request(API + "/jobs/%s/events/stream" % job_id, headers={"Authorization": "Bearer " + TOKEN, "Last-Event-ID": str(seen[-1]["seq"])})
with urllib.request.urlopen(request, timeout=10) as response:
    check(response.status == 204, "reconnect after the end: %d" % response.status)

# 5. The projection on disk holds the same events.
path = os.path.join(RUNS, job_id, "events.jsonl")
lines = []
for _ in range(100):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        if len(lines) >= len(seen):
            break
    time.sleep(0.1)
check(lines == [to_canonical(e) for e in seen], "%s holds the same %d events" % (path, len(lines)))
print("seed client: all checks passed", flush=True)
