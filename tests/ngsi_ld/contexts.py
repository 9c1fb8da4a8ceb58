"""An independent NGSI-LD client that names its own @context, as FIWARE clients do: the twin
must expand its terms and compact its answers with it. The client serves its context documents
itself (a small HTTP server), receives its own notifications, and uses one context the twin
has pre-loaded (`--ngsi-ld-contexts`, `https://example.org/preloaded.jsonld`). Run by
tests/ngsi_ld.rs: `contexts.py BASE TOKEN`. Exits non-zero with the failed check."""

import http.server
import json
import threading
import time

from ngsi import ERRORS, check, entities, get, quoted, send

CONTEXTS = {
    "/city.jsonld": {"@context": {
        "Building": "https://example.org/Building",
        "height": "https://example.org/height",
        "ex": "https://example.org/",
        "name": "https://schema.org/name",
        "Bin": "https://uri.etsi.org/ngsi-ld/default-context/WasteContainer",
        "capacity": "https://uri.etsi.org/ngsi-ld/default-context/binCapacity",
    }},
    "/broken.jsonld": {"@context": {"height": {"@id": 5}}},
}
notified = []


class Server(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = CONTEXTS.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/ld+json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {}).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        notified.append((self.headers, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
threading.Thread(target=server.serve_forever, daemon=True).start()
HERE = f"http://127.0.0.1:{server.server_address[1]}"
CITY = HERE + "/city.jsonld"


def link(url):
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


HALL = "urn:ngsi-ld:Building:hall"
# Written with the client's terms.
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {
    "id": HALL, "type": "Building",
    "height": {"type": "Property", "value": 21, "unitCode": "MTR"},
    "name": {"type": "Property", "value": "Town hall"},
    "ex:floors": {"type": "Property", "value": 5},
    "colour": {"type": "Property", "value": "red"},
}, link(CITY))
check(status == 201, f"created with the client's context: {status} {answer}")

# Read without a context: the names are their IRIs; a term of the default vocabulary stays short.
status, _, hall = get("/ngsi-ld/v1/entities/" + quoted(HALL))
check(status == 200 and hall["type"] == "https://example.org/Building"
      and hall["https://example.org/height"]["value"] == 21 and hall["https://schema.org/name"]["value"] == "Town hall"
      and "https://example.org/floors" in hall and hall["colour"]["value"] == "red",
      f"the core context gives the IRIs: {hall}")

# Read with the context: the client's terms again, and the Link names it.
status, headers, hall = get("/ngsi-ld/v1/entities/" + quoted(HALL), link(CITY))
check(status == 200 and hall["type"] == "Building" and hall["height"]["value"] == 21
      and hall["name"]["value"] == "Town hall" and hall["ex:floors"]["value"] == 5 and hall["colour"]["value"] == "red",
      f"compacted with the client's context: {hall}")
check(CITY in headers.get("Link", ""), f"the answer names the client's context: {headers.get('Link')}")

# omit names members in the client's terms too.
status, _, hall = get("/ngsi-ld/v1/entities/" + quoted(HALL) + "?omit=height", link(CITY))
check(status == 200 and "height" not in hall and "name" in hall, f"omit in the client's terms: {hall}")

# Queries take the client's terms in type, q and attrs.
status, _, found = get(entities({"type": "Building", "q": "height>20", "attrs": "height"}), link(CITY))
check(status == 200 and [e["id"] for e in found] == [HALL] and set(found[0]) == {"id", "type", "height"},
      f"type, q and attrs in the client's terms: {found}")
status, _, found = get(entities({"type": "Building", "q": "height>30"}), link(CITY))
check(status == 200 and found == [], f"q compares: {found}")

# The twin's own assets under the client's names for them.
status, _, bins = get(entities({"type": "Bin", "limit": 2, "attrs": "capacity"}), link(CITY))
check(status == 200 and len(bins) == 2 and all(b["type"] == "Bin" and "capacity" in b for b in bins),
      f"the twin's bins as the client names them: {bins}")

# An application/ld+json body carries its context, inline here.
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {
    "@context": [{"Shop": "https://example.org/Shop", "opens": "https://example.org/opens"}],
    "id": "urn:ngsi-ld:Shop:s1", "type": "Shop", "opens": {"type": "Property", "value": "08:00"},
}, {"Content-Type": "application/ld+json"})
check(status == 201, f"created from ld+json with an inline context: {status} {answer}")
status, _, shop = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Shop:s1",
                      {**link(CITY), "Accept": "application/ld+json"})
check(status == 200 and shop["type"] == "ex:Shop" and shop["ex:opens"]["value"] == "08:00"
      and shop["@context"] == CITY, f"another context's terms, compacted with this one: {shop}")

# A pre-loaded context (the twin has no internet).
status, _, hall = get("/ngsi-ld/v1/entities/" + quoted(HALL), link("https://example.org/preloaded.jsonld"))
check(status == 200 and hall["type"] == "Hall" and hall["tall"]["value"] == 21,
      f"a pre-loaded context: {status} {hall}")

# Attribute writes in the client's terms.
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/" + quoted(HALL) + "/attrs/height",
                         {"type": "Property", "value": 22}, link(CITY))
check(status == 204, f"an attribute named by its term: {status} {answer}")
status, _, hall = get("/ngsi-ld/v1/entities/" + quoted(HALL), link(CITY))
check(hall["height"]["value"] == 22 and hall["height"]["unitCode"] == "MTR", f"partially updated: {hall}")

# A subscription in the client's terms, notified in them.
status, _, answer = send("POST", "/ngsi-ld/v1/subscriptions", {
    "type": "Subscription", "entities": [{"type": "Building"}], "watchedAttributes": ["height"],
    "notification": {"attributes": ["height"], "endpoint": {"uri": HERE + "/notify", "accept": "application/json"}},
}, link(CITY))
check(status == 201, f"a subscription in the client's terms: {status} {answer}")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/" + quoted(HALL) + "/attrs",
                         {"height": {"type": "Property", "value": 23}}, link(CITY))
check(status == 204, f"height changed: {status} {answer}")
deadline = time.time() + 20
latest = lambda: [(h, e) for h, b in notified for e in b["data"] if e.get("height", {}).get("value") == 23]
while not latest() and time.time() < deadline:
    time.sleep(0.1)
check(latest(), f"the change was notified: {notified}")
headers, entity = latest()[0]
stale = [e["height"]["value"] for _, b in notified for e in b["data"] if e["height"]["value"] != 23]
check(not stale, f"changes made before the subscription are not notified: {stale}")
check(entity["type"] == "Building" and entity["height"]["value"] == 23 and CITY in headers.get("Link", ""),
      f"notified in the subscription's context: {headers.get('Link')} {entity}")
check("Link" in headers.keys() and "Content-Type" in headers.keys(),
      f"header names as the specification writes them: {headers.keys()}")

# Contexts that cannot be used.
for url, code, kind in [("http://127.0.0.1:9/none.jsonld", 503, "LdContextNotAvailable"),
                        (HERE + "/missing.jsonld", 503, "LdContextNotAvailable"),
                        ("https://example.org/not-preloaded.jsonld", 503, "LdContextNotAvailable"),
                        (HERE + "/broken.jsonld", 400, "BadRequestData")]:
    status, _, problem = get(entities({"type": "Building"}), link(url))
    check(status == code and problem["type"] == ERRORS + kind and url in problem["detail"],
          f"{url}: {status} {problem}")
print("ok")
