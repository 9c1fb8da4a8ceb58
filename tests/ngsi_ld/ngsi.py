"""What the independent NGSI-LD clients share: plain HTTP with Python's standard library,
the base URL and operator token from the command line, and a check that stops at the first
failure. Nothing here knows the twin's types."""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = sys.argv[1]
TOKEN = sys.argv[2]
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


def send(method, path, body=None, headers=None, token=True):
    """One request; returns (status, headers, parsed JSON body or None)."""
    all_headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    if token:
        all_headers["Authorization"] = "Bearer " + TOKEN
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def get(path, headers=None):
    return send("GET", path, headers=headers, token=False)


def post_json(path, body):
    status, _, answer = send("POST", path, body)
    return status, answer


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def entities(query):
    return "/ngsi-ld/v1/entities?" + urllib.parse.urlencode(query)


def quoted(urn):
    return urllib.parse.quote(urn, safe=":")
