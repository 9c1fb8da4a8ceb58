"""An independent NGSI-LD client (Python's standard library only) that checks the twin's
NGSI-LD API from the outside: retrieve, query, formats, pagination and ProblemDetails errors.
Run by tests/ngsi_ld.rs with the twin's base URL; exits non-zero with the failed check."""

import urllib.parse

from ngsi import CORE, ERRORS, check, entities, get, post_json, send

# One bin, normalized, with the core context in the Link header.
status, headers, bin17 = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17")
check(status == 200, f"retrieve: {status} {bin17}")
check(headers["Content-Type"] == "application/json", f"content type {headers}")
check(CORE in headers.get("Link", ""), f"Link header names the core context: {headers}")
check(bin17["id"] == "urn:ngsi-ld:WasteContainer:17" and bin17["type"] == "WasteContainer", bin17)
check(bin17["location"]["type"] == "GeoProperty", bin17["location"])
check(bin17["location"]["value"]["type"] == "Point", bin17["location"])
check(all(k in ("id", "type") or isinstance(v, dict) and v["type"] in ("Property", "GeoProperty", "Relationship")
          for k, v in bin17.items()), f"every attribute is typed: {bin17}")

# JSON-LD: the context in the body, no Link header.
status, headers, ld = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17",
                          {"Accept": "application/ld+json"})
check(status == 200 and ld.get("@context") == CORE, f"ld+json: {ld.get('@context')}")
check(headers["Content-Type"] == "application/ld+json", headers)

# A charger's grid connection is a Relationship to the post's URN, which resolves.
status, _, charger = get("/ngsi-ld/v1/entities/urn:ngsi-ld:EVChargingStation:1")
check(status == 200, f"charger: {status}")
grid = charger["refGridConnection"]
check(grid["type"] == "Relationship" and grid["object"].startswith("urn:ngsi-ld:"), grid)
status, _, post = get("/ngsi-ld/v1/entities/" + urllib.parse.quote(grid["object"], safe=":"))
check(status == 200 and post["id"] == grid["object"], f"the related post resolves: {status}")

# Collections as the specification writes them, with a trailing slash.
status, _, found = get("/ngsi-ld/v1/entities/?type=WasteContainer&limit=2")
check(status == 200 and len(found) == 2, f"/entities/ with a slash: {status}")
# A method a resource does not take is a ProblemDetails too.
status, headers, problem = send("PUT", "/ngsi-ld/v1/types")
check(status == 405 and problem["type"] == ERRORS + "OperationNotSupported" and "GET" in headers.get("Allow", ""),
      f"405 as ProblemDetails: {status} {problem}")
# Accept weights: the heavier type wins; q=0 refuses a type.
for accept, want in [("application/json;q=0.1, application/ld+json;q=0.9", "application/ld+json"),
                     ("application/json;q=0, */*", "application/ld+json"),
                     ("application/ld+json;q=0.5, application/json", "application/json")]:
    status, headers, _ = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17", {"Accept": accept})
    check(status == 200 and headers.get("Content-Type") == want, f"Accept {accept}: {headers.get('Content-Type')}")

# omit leaves members out; local=true changes nothing (no context sources); a query as a body.
status, _, simple = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17?format=keyValues&omit=type,location")
check(status == 200 and "type" not in simple and "location" not in simple and "binCapacity" in simple, f"omit: {simple}")
status, _, local = get(entities({"type": "WasteContainer", "limit": 3, "local": "true"}))
check(status == 200 and len(local) == 3, f"local=true: {status}")
status, _, posted = send("POST", "/ngsi-ld/v1/entityOperations/query?limit=3&count=true",
                         {"type": "Query", "entities": [{"type": "WasteContainer"}], "attrs": ["binCapacity"],
                          "q": "binCapacity>0"}, token=False)
status2, _, got = get(entities({"type": "WasteContainer", "limit": 3, "attrs": "binCapacity", "q": "binCapacity>0"}))
check(status == 200 and posted == got and len(posted) == 3, f"a query body answers as the GET: {status} {posted}")
for bad in [{"type": "Query", "entities": [{"type": "WasteContainer"}], "attrs": []},
            {"type": "Query", "entities": [{"type": "WasteContainer"}], "q": 42},
            {"type": "Query", "entities": [{"type": "WasteContainer"}], "join": "inline"},
            {"type": "Query", "entities": [{"id": "urn:ngsi-ld:WasteContainer:17"}]},
            {"type": "Query", "entities": [{"type": "WasteContainer"},
                                           {"type": "EVChargingStation", "id": "urn:ngsi-ld:EVChargingStation:1"}]}]:
    status, _, problem = send("POST", "/ngsi-ld/v1/entityOperations/query", bad, token=False)
    check(status == 400 and problem["type"] == ERRORS + "BadRequestData", f"{bad}: {status} {problem}")

# keyValues and concise: values without their wrappers; pick keeps only what is asked.
status, _, simple = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17?format=keyValues&pick=location,binCapacity")
check(status == 200 and set(simple) == {"location", "binCapacity"}, f"keyValues+pick (id and type only if picked): {simple}")
check(simple["location"]["type"] == "Point" and isinstance(simple["binCapacity"], (int, float)), simple)
status, _, simple = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17?format=keyValues&pick=id,binCapacity")
check(status == 200 and set(simple) == {"id", "binCapacity"}, f"pick with id: {simple}")
status, _, simple = get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17?format=keyValues&attrs=binCapacity")
check(status == 200 and set(simple) == {"id", "type", "binCapacity"}, f"attrs keeps id and type: {simple}")

# Query by type with a page size, a count and a next-page link.
bins = sum(1 for e in get("/api/entities?layer=bin&limit=100000")[2]["entities"])
status, headers, page = get(entities({"type": "WasteContainer", "limit": 5, "count": "true"}))
check(status == 200 and len(page) == 5, f"a page of 5: {status} {len(page)}")
check(int(headers["NGSILD-Results-Count"]) == bins, f"count {headers.get('NGSILD-Results-Count')} == {bins} bins")
links = " ".join(headers.get_all("Link") or [])
check('rel="next"' in links and "offset=5" in links and CORE in links, f"next page and context: {links}")
check('rel="prev"' not in links, f"the first page has no previous one: {links}")
status, headers, second = get(entities({"type": "WasteContainer", "limit": 5, "offset": 5}))
check({e["id"] for e in page}.isdisjoint({e["id"] for e in second}), "pages do not overlap")
links = " ".join(headers.get_all("Link") or [])
check('rel="prev"' in links and "offset=0" in links and 'offset=10' in links, f"prev and next: {links}")
status, headers, _ = get(entities({"type": "WasteContainer", "limit": 5, "offset": 5}),
                         {"Accept": "application/ld+json"})
links = " ".join(headers.get_all("Link") or [])
check('type="application/ld+json"' in links and CORE not in links, f"ld+json page links: {links}")

# q: a comparison, an and, an or and a pattern, each checked against the same filter applied
# here to every charger.
status, _, all_chargers = get(entities({"type": "EVChargingStation", "limit": 1000}))
check(status == 200 and len(all_chargers) > 2, f"chargers: {status}")
for q, keep in [
    ('category=="public"', lambda c: c["category"]["value"] == "public"),
    ('category=="public";socketNumber>=2|name~="Dacia"',
     lambda c: (c["category"]["value"] == "public" and c["socketNumber"]["value"] >= 2)
     or "Dacia" in c["name"]["value"]),
]:
    status, headers, chosen = get(entities({"type": "EVChargingStation", "q": q, "limit": 1000,
                                            "count": "true"}))
    expected = sorted(c["id"] for c in all_chargers if keep(c))
    check(status == 200 and sorted(c["id"] for c in chosen) == expected, f"q={q}: {len(chosen)} of {len(expected)}")
    check(0 < len(expected) < len(all_chargers), f"q={q} keeps some chargers, not all")
    check(int(headers["NGSILD-Results-Count"]) == len(expected), f"q={q}: count")
status, _, by_id = get(entities({"type": "WasteContainer,EVChargingStation",
                                  "id": "urn:ngsi-ld:WasteContainer:17,urn:ngsi-ld:EVChargingStation:1"}))
check(sorted(e["id"] for e in by_id) == ["urn:ngsi-ld:EVChargingStation:1", "urn:ngsi-ld:WasteContainer:17"], by_id)

# Types.
status, _, types = get("/ngsi-ld/v1/types")
check(status == 200 and "WasteContainer" in types["typeList"] and "Junction" in types["typeList"], types)

# Errors are ProblemDetails with the specification's types.
for path, headers, code, kind in [
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:no-such-bin", {}, 404, "ResourceNotFound"),
    ("/ngsi-ld/v1/entities/not-a-uri", {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "q": "fillingLevel>"}), {}, 400, "BadRequestData"),
    ("/ngsi-ld/v1/entities?limit=3", {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "georel": "near;maxDistance==100"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "limit": 0}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "id": "bin17"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "pick": "location", "attrs": "location"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "pick": "id;location"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "pick": "location{x}"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "pick": "location,,id"}), {}, 400, "BadRequestData"),
    # A hostile query: deep nesting is refused, not a stack overflow (the next checks still run).
    (entities({"type": "WasteContainer", "q": "(" * 5000 + "a" + ")" * 5000}), {}, 400, "BadRequestData"),
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17", {"Accept": "text/csv"}, 406, "InvalidRequest"),
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17",
     {"Link": '<https://example.org/other.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'},
     503, "LdContextNotAvailable"),
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17",
     {"Link": '<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'},
     503, "LdContextNotAvailable"),
    ("/ngsi-ld/v1/entities/not-a-uri", {}, 400, "BadRequestData"),
    ("/ngsi-ld/v1/temporal/entities/not-a-uri", {}, 400, "BadRequestData"),
    ("/ngsi-ld/v1/nothing-here", {}, 404, "ResourceNotFound"),
    ("/ngsi-ld/v1/types?details=true", {}, 400, "InvalidRequest"),
    ("/ngsi-ld/v1/types?invalidParams=x", {}, 400, "InvalidRequest"),
    (entities({"type": "WasteContainer", "attrs": "id,binCapacity"}), {}, 400, "BadRequestData"),
    (entities({"type": "WasteContainer", "omit": "location", "pick": "id"}), {}, 400, "BadRequestData"),
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17?attrs=noSuchAttribute", {}, 404, "ResourceNotFound"),
    ("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:17", {"NGSILD-Tenant": "other"}, 404, "NonexistentTenant"),
]:
    status, h, problem = get(path, headers)
    check(status == code, f"{path}: status {status}, expected {code}: {problem}")
    check(problem["type"] == ERRORS + kind, f"{path}: type {problem.get('type')}, expected {kind}")
    check(problem.get("detail"), f"{path}: a detail says why")
    check(h["Content-Type"] == "application/json", f"{path}: errors are application/json")

# Temporal: eight readings of bin 17 every 15 minutes on 2026-01-01, posted through the twin's
# API (validated and stored like any sensor's), read back from the history.
levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
times = [f"2026-01-01T{h:02d}:{m:02d}:00Z" for h in (0, 1) for m in (0, 15, 30, 45)]
status, answer = post_json("/api/readings", [{"entity": "bin:17", "observedAt": t, "values": {"fillingLevel": v}}
                                         for t, v in zip(times, levels)])
check(status == 200 and answer["accepted_count"] == 8, f"readings posted: {answer}")
TEMPORAL = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WasteContainer:17?"
DAY = {"timerel": "between", "timeAt": "2026-01-01T00:00:00Z", "endTimeAt": "2026-01-02T00:00:00Z",
       "attrs": "fillingLevel"}


def temporal(extra):
    return get(TEMPORAL + urllib.parse.urlencode({**DAY, **extra}))


status, _, evolution = temporal({})
check(status == 200 and evolution["type"] == "WasteContainer", f"temporal: {status} {evolution}")
instances = evolution["fillingLevel"]
check([i["value"] for i in instances] == levels, f"every instance in time order: {instances}")
check([i["observedAt"] for i in instances] == times, "observedAt of each")
check(all(i["type"] == "Property" for i in instances), "instances are Properties")
status, _, last3 = temporal({"lastN": 3})
check([i["value"] for i in last3["fillingLevel"]] == levels[-3:], f"lastN=3: {last3}")
status, _, before = get(TEMPORAL + urllib.parse.urlencode(
    {"timerel": "before", "timeAt": "2026-01-01T00:30:00Z", "attrs": "fillingLevel"}))
check([i["value"] for i in before["fillingLevel"]] == [0.1, 0.2], f"before is exclusive: {before}")
status, _, pairs = temporal({"format": "temporalValues"})
check(pairs["fillingLevel"]["values"] == [[v, t] for v, t in zip(levels, times)], f"temporalValues: {pairs}")
status, _, hourly = temporal({"format": "aggregatedValues", "aggrMethods": "avg,max,totalCount",
                              "aggrPeriodDuration": "PT1H"})
check(status == 200, f"aggregated: {status} {hourly}")
agg = hourly["fillingLevel"]
check([round(a[0], 9) for a in agg["avg"]] == [0.25, 0.65], f"hourly averages: {agg}")
check([a[0] for a in agg["max"]] == [0.4, 0.8] and [a[0] for a in agg["totalCount"]] == [4, 4], agg)
check(agg["avg"][0][1:] == ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"], f"periods: {agg['avg']}")
for extra, kind in [
    ({"endTimeAt": ""}, "BadRequestData"),
    ({"format": "aggregatedValues"}, "BadRequestData"),
    ({"format": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "P1M"}, "BadRequestData"),
    ({"lastN": 0}, "BadRequestData"),
    ({"timeproperty": "modifiedAt"}, "InvalidRequest"),
]:
    query = {**DAY, **extra}
    if query.get("endTimeAt") == "":
        del query["endTimeAt"]
    status, _, problem = get(TEMPORAL + urllib.parse.urlencode(query))
    check(status == 400 and problem["type"] == ERRORS + kind, f"{extra}: {status} {problem}")

# The temporal query over several entities: bin 17 among the bins, its eight readings; an
# entity without readings in the window has no instances.
query = {**DAY, "type": "WasteContainer", "id": "urn:ngsi-ld:WasteContainer:17,urn:ngsi-ld:WasteContainer:18",
         "count": "true"}
status, headers, many = get("/ngsi-ld/v1/temporal/entities?" + urllib.parse.urlencode(query))
check(status == 200 and int(headers["NGSILD-Results-Count"]) == 2 and len(many) == 2, f"temporal query: {status} {many}")
by_id = {e["id"]: e for e in many}
check([i["value"] for i in by_id["urn:ngsi-ld:WasteContainer:17"]["fillingLevel"]] == levels, by_id)
check("fillingLevel" not in by_id["urn:ngsi-ld:WasteContainer:18"], f"no readings, no instances: {by_id}")
status, _, problem = get("/ngsi-ld/v1/temporal/entities?" + urllib.parse.urlencode(DAY))
check(status == 400 and problem["type"] == ERRORS + "BadRequestData", f"a temporal query needs a type: {problem}")

print("ok")
