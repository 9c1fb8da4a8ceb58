"""An independent NGSI-LD client (Python's standard library only) that checks subscriptions and
notifications from the outside: it runs its own HTTP receiver, subscribes it, changes entities
and watches what arrives. `subscriptions.py BASE TOKEN` runs the checks;
`subscriptions.py BASE TOKEN after-restart` checks that subscriptions and their notification
status survived the twin's restart. Exits non-zero with the failed check."""

import http.server
import json
import socket
import sys
import threading
import time

from ngsi import CORE, ERRORS, check, send

SUBS = "/ngsi-ld/v1/subscriptions/"
KEPT = "urn:ngsi-ld:Subscription:kept"

if sys.argv[3:] == ["after-restart"]:
    status, _, kept = send("GET", SUBS + KEPT)
    check(status == 200 and kept["notification"]["timesSent"] >= 1, f"kept with its status: {status} {kept}")
    check(kept["status"] == "active" and kept["watchedAttributes"] == ["floors"], kept)
    print("ok")
    sys.exit(0)

received = []  # (subscription id, notification, headers)
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            received.append((body["subscriptionId"], body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
ENDPOINT = f"http://127.0.0.1:{server.server_port}/notify"


def notifications(sub_id):
    with lock:
        return [n for s, n, _ in received if s == sub_id]


def wait_for(sub_id, n=1, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if len(notifications(sub_id)) >= n:
            return notifications(sub_id)
        time.sleep(0.1)
    return notifications(sub_id)


def subscribe(body):
    status, headers, answer = send("POST", "/ngsi-ld/v1/subscriptions", body)
    check(status == 201, f"subscribe: {status} {answer}")
    return headers["Location"].rsplit("/", 1)[1]


# A broker entity watched on one attribute with a q, notified in keyValues with one attribute.
status, _, _ = send("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Building:s1", "type": "Building",
                                                      "floors": 2, "name": "Depou"})
check(status == 201, f"building: {status}")
tall = subscribe({"type": "Subscription", "entities": [{"type": "Building"}], "watchedAttributes": ["floors"],
                  "q": "floors>3",
                  "notification": {"attributes": ["floors"], "format": "keyValues", "endpoint": {"uri": ENDPOINT}}})
send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:s1/attrs/", {"name": "Depoul"})
send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:s1/attrs/", {"floors": 3})
send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:s1/attrs/", {"floors": 6})
got = wait_for(tall)
check(len(got) == 1, f"one notification: {got}")
n = got[0]
check(n["type"] == "Notification" and n["id"].startswith("urn:") and n["notifiedAt"], n)
check(n["data"] == [{"id": "urn:ngsi-ld:Building:s1", "type": "Building", "floors": 6}], f"data: {n['data']}")
time.sleep(1)
check(len(notifications(tall)) == 1, "a name change and floors<=3 notify nothing")
with lock:
    headers = [h for s, _, h in received if s == tall][0]
check(CORE in headers.get("link", "") and headers["content-type"] == "application/json", headers)

# The twin's own assets: the simulated feed changes bins; a watched attribute notifies, an
# impossible q never does, throttling keeps to one per period.
bins = subscribe({"type": "Subscription", "entities": [{"type": "WasteContainer"}],
                  "watchedAttributes": ["fillingLevel"], "notification": {"endpoint": {"uri": ENDPOINT,
                                                                                       "accept": "application/ld+json"}}})
never = subscribe({"type": "Subscription", "entities": [{"type": "WasteContainer"}], "q": "fillingLevel>2",
                   "notification": {"endpoint": {"uri": ENDPOINT}}})
slow = subscribe({"type": "Subscription", "entities": [{"type": "WasteContainer"}], "throttling": 30,
                  "notification": {"endpoint": {"uri": ENDPOINT}}})
got = wait_for(bins, 2, 30)
check(len(got) >= 2, f"the feed's bin readings notify: {len(got)}")
entity = got[0]["data"][0]
check(entity["type"] == "WasteContainer" and entity["fillingLevel"]["type"] == "Property"
      and 0 <= entity["fillingLevel"]["value"] <= 1, f"a normalized bin: {entity}")
check(got[0].get("@context") == CORE, "ld+json notifications carry the context")
time.sleep(1.5)
check(notifications(never) == [], "q never true, never notified")
check(len(notifications(slow)) == 1, f"throttling 30 s: one notification, {len(notifications(slow))}")

# Periodic: every second, every covered entity.
periodic = subscribe({"type": "Subscription", "entities": [{"type": "Building"}], "timeInterval": 1,
                      "notification": {"endpoint": {"uri": ENDPOINT}}})
got = wait_for(periodic, 3, 10)
check(len(got) >= 3 and all(any(e["id"] == "urn:ngsi-ld:Building:s1" for e in n["data"]) for n in got),
      f"periodic: {len(got)}")

# A receiver that is down: the failure is recorded at once.
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
dead_port = closed.getsockname()[1]
closed.close()
dead = subscribe({"type": "Subscription", "entities": [{"type": "Building"}],
                  "notification": {"endpoint": {"uri": f"http://127.0.0.1:{dead_port}/gone"}}})
send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:s1/attrs/", {"floors": 7})
deadline = time.time() + 10
while time.time() < deadline:
    status, _, sub = send("GET", SUBS + dead)
    if sub["notification"].get("status") == "failed":
        break
    time.sleep(0.2)
check(sub["notification"].get("status") == "failed" and sub["notification"].get("lastFailure")
      and sub["notification"]["timesSent"] == 1, f"a failed delivery is recorded: {sub}")
status, _, sub = send("GET", SUBS + tall)
check(sub["notification"]["status"] == "ok" and sub["notification"]["timesSent"] >= 1
      and sub["notification"].get("lastSuccess"), f"a delivered one: {sub}")

# The API: list with count, retrieve, pause, update, delete; bad ones refused.
status, headers, listed = send("GET", "/ngsi-ld/v1/subscriptions?count=true&limit=100")
check(status == 200 and int(headers["NGSILD-Results-Count"]) == len(listed) >= 6, f"list: {status} {len(listed)}")
status, headers, second = send("GET", "/ngsi-ld/v1/subscriptions?limit=2&offset=2")
links = headers.get_all("Link") or []
check(len(second) == 2 and any('offset=4>; rel="next"' in l for l in links) and any('offset=0>; rel="prev"' in l for l in links),
      f"pages of subscriptions link to their neighbours: {links}")
status, _, answer = send("GET", "/ngsi-ld/v1/subscriptions", token=False)
check(status == 401, f"subscriptions need the operator's token: {status}")
status, _, _ = send("PATCH", SUBS + bins, {"isActive": False})
check(status == 204, "pause")
status, _, sub = send("GET", SUBS + bins)
check(sub["status"] == "paused", f"paused: {sub['status']}")
time.sleep(0.6)
before = len(notifications(bins))
time.sleep(1.5)
check(len(notifications(bins)) == before, "a paused subscription is not notified")
for sub_id in (bins, never, slow, periodic, dead):
    status, _, _ = send("DELETE", SUBS + sub_id)
    check(status == 204, f"delete {sub_id}")
status, _, answer = send("GET", SUBS + periodic)
check(status == 404 and answer["type"] == ERRORS + "ResourceNotFound", f"deleted: {status}")
time.sleep(1.5)
before = len(notifications(periodic))
time.sleep(1.5)
check(len(notifications(periodic)) == before, "a deleted periodic subscription stops")
for bad, why in [
    ({"type": "Subscription", "entities": [{"type": "Building"}], "notification": {"endpoint": {"uri": "https://x.org/n"}}}, "TLS"),
    ({"type": "Subscription", "notification": {"endpoint": {"uri": ENDPOINT}}}, "entities"),
    ({"type": "Subscription", "entities": [{"type": "Building"}], "q": "floors>",
      "notification": {"endpoint": {"uri": ENDPOINT}}}, "q"),
    ({"type": "Subscription", "entities": [{"type": "Building"}], "expiresAt": "2020-01-01T00:00:00Z",
      "notification": {"endpoint": {"uri": ENDPOINT}}}, "past"),
]:
    status, _, answer = send("POST", "/ngsi-ld/v1/subscriptions", bad)
    check(status == 400 and answer["type"] == ERRORS + "BadRequestData" and why in answer["detail"],
          f"refused ({why}): {status} {answer}")

# One subscription kept for the restart check, notified once (its status is stored within 1 s).
subscribe({"id": KEPT, "type": "Subscription", "entities": [{"type": "Building"}], "watchedAttributes": ["floors"],
           "notification": {"endpoint": {"uri": ENDPOINT}}})
status, _, answer = send("POST", "/ngsi-ld/v1/subscriptions", {"id": KEPT, "type": "Subscription",
                                                               "entities": [{"type": "Building"}],
                                                               "notification": {"endpoint": {"uri": ENDPOINT}}})
check(status == 409 and answer["type"] == ERRORS + "AlreadyExists", f"an id taken: {status}")
send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:s1/attrs/", {"floors": 8})
check(len(wait_for(KEPT)) == 1, "kept notified")
time.sleep(1.5)
print("ok")
