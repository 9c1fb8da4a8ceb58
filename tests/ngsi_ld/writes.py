"""An independent NGSI-LD client (Python's standard library only) that checks the twin's
NGSI-LD writes, batch operations and geo-queries from the outside. Run by tests/ngsi_ld.rs:
`writes.py BASE TOKEN` makes the writes; `writes.py BASE TOKEN after-restart` checks that the
broker's own entities survived the twin's restart. Exits non-zero with the failed check."""

import math
import sys
import time

from ngsi import CORE, ERRORS, check, entities, get, quoted, send

HALL = "urn:ngsi-ld:Building:town-hall"
BIN = "urn:ngsi-ld:WasteContainer:17"

if sys.argv[3:] == ["after-restart"]:
    status, _, hall = get("/ngsi-ld/v1/entities/" + HALL)
    check(status == 200 and hall["floors"]["value"] == 5, f"the building survived a restart: {status} {hall}")
    status, _, gone = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:b3")
    check(status == 404, f"a deleted entity stays deleted: {status}")
    print("ok")
    sys.exit(0)


def problem(status, answer, code, kind, what):
    check(status == code and answer and answer.get("type") == ERRORS + kind,
          f"{what}: {status} {answer}, expected {code} {kind}")


# bin 17's place, from its own GeoProperty.
status, _, bin17 = get("/ngsi-ld/v1/entities/" + BIN)
lon, lat = bin17["location"]["value"]["coordinates"]

# Create the broker's own entity (a type the twin has not), normalized.
hall = {
    "id": HALL, "type": "Building",
    "name": {"type": "Property", "value": "Primăria Pitești"},
    "floors": {"type": "Property", "value": 4, "unitCode": "C62", "source": {"type": "Property", "value": "cadastre"}},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon + 0.001, lat]}},
}
status, _, answer = send("POST", "/ngsi-ld/v1/entities", hall, token=False)
check(status == 401, f"writes need the operator's token by default: {status} {answer}")
status, headers, answer = send("POST", "/ngsi-ld/v1/entities", hall)
check(status == 201 and headers["Location"] == "/ngsi-ld/v1/entities/" + HALL, f"create: {status} {answer}")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", hall)
problem(status, answer, 409, "AlreadyExists", "create twice")
status, _, stored = get("/ngsi-ld/v1/entities/" + HALL)
check(status == 200 and stored == hall, f"retrieved as created: {stored}")
status, _, concise = get("/ngsi-ld/v1/entities/" + HALL + "?format=concise")
check(concise["name"] == "Primăria Pitești" and concise["floors"]["value"] == 4, f"concise: {concise}")

# JSON-LD bodies carry their @context; a JSON body must not.
ld = {"id": "urn:ngsi-ld:Building:b2", "type": "Building", "name": "Casa de Cultură", "@context": CORE}
status, _, answer = send("POST", "/ngsi-ld/v1/entities", ld, {"Content-Type": "application/ld+json"})
check(status == 201, f"create from ld+json: {status} {answer}")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {**ld, "id": "urn:ngsi-ld:Building:b9"})
problem(status, answer, 400, "BadRequestData", "@context in an application/json body")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {**ld, "@context": "https://example.org/c.jsonld"},
                         {"Content-Type": "application/ld+json"})
problem(status, answer, 503, "LdContextNotAvailable", "a context the broker cannot fetch")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {**ld, "id": "urn:ngsi-ld:Building:b8"},
                         {"Content-Type": "application/ld+json",
                          "Link": f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"'})
problem(status, answer, 400, "BadRequestData", "a Link header beside an ld+json body")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {**ld, "id": "urn:ngsi-ld:Building:b7"},
                         {"NGSILD-Tenant": "other"})
problem(status, answer, 422, "OperationNotSupported", "a write to another tenant")
status, _, answer = send("DELETE", "/ngsi-ld/v1/entities/not-a-uri")
problem(status, answer, 400, "BadRequestData", "deleting an id that is not a URI")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", ld, {"Content-Type": "text/plain"})
problem(status, answer, 415, "InvalidRequest", "a body that is not JSON")
for bad, why in [({"id": "town hall", "type": "Building"}, "id not a URI"),
                 ({"id": "urn:ngsi-ld:Building:b4"}, "no type"),
                 ({"id": "urn:ngsi-ld:Building:b5", "type": "Building", "x": None}, "null value"),
                 ({"id": "urn:ngsi-ld:Building:b6", "type": "Building",
                   "location": {"type": "Point", "coordinates": [489000.0, 321000.0]}}, "projected coordinates")]:
    status, _, answer = send("POST", "/ngsi-ld/v1/entities", bad)
    problem(status, answer, 400, "BadRequestData", why)
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:WasteContainer:new", "type": "WasteContainer"})
problem(status, answer, 422, "OperationNotSupported", "a new asset of the twin's types")

# Attributes: append (noOverwrite keeps), update (only existing), partial update, delete.
ATTRS = "/ngsi-ld/v1/entities/" + HALL + "/attrs/"
status, _, answer = send("POST", ATTRS, {"height": {"type": "Property", "value": 21.5, "unitCode": "MTR"}})
check(status == 204, f"append: {status} {answer}")
status, _, answer = send("POST", ATTRS + "?options=noOverwrite", {"height": 99, "roof": "tiles"})
check(status == 207 and answer["updated"] == ["roof"] and answer["notUpdated"][0]["attributeName"] == "height",
      f"noOverwrite: {status} {answer}")
status, _, answer = send("PATCH", ATTRS, {"floors": {"type": "Property", "value": 5}, "basement": True})
check(status == 207 and answer["updated"] == ["floors"] and answer["notUpdated"][0]["attributeName"] == "basement",
      f"update: {status} {answer}")
status, _, answer = send("PATCH", ATTRS + "height", {"value": 22.0})
check(status == 204, f"partial update: {status} {answer}")
status, _, stored = get("/ngsi-ld/v1/entities/" + HALL)
check(stored["height"] == {"type": "Property", "value": 22.0, "unitCode": "MTR"}, f"unit kept: {stored['height']}")
check(stored["height"] and stored["roof"]["value"] == "tiles" and stored["floors"]["value"] == 5, stored)
check("source" not in stored["floors"], f"update replaces the whole attribute: {stored['floors']}")
status, _, answer = send("DELETE", ATTRS + "roof")
check(status == 204, f"delete attribute: {status}")
status, _, answer = send("DELETE", ATTRS + "roof")
problem(status, answer, 404, "ResourceNotFound", "delete a deleted attribute")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/" + HALL, {"name": {"value": "Primăria Municipiului Pitești"}})
check(status == 204, f"merge: {status} {answer}")
status, _, stored = get("/ngsi-ld/v1/entities/" + HALL)
check(stored["name"]["value"] == "Primăria Municipiului Pitești" and stored["height"]["value"] == 22.0, stored)

# The twin's own assets: a measured attribute written is a reading, read back from the history.
BIN_ATTRS = "/ngsi-ld/v1/entities/" + BIN + "/attrs/"
status, _, answer = send("PATCH", BIN_ATTRS, {"fillingLevel": {"type": "Property", "value": 0.42,
                                                               "observedAt": "2026-02-01T08:00:00Z"}})
check(status == 204, f"a bin's filling level written: {status} {answer}")
status, _, evolution = get("/ngsi-ld/v1/temporal/entities/" + BIN + "?timerel=between"
                           "&timeAt=2026-02-01T00:00:00Z&endTimeAt=2026-02-02T00:00:00Z&attrs=fillingLevel")
check([(i["value"], i["observedAt"]) for i in evolution.get("fillingLevel", [])] == [(0.42, "2026-02-01T08:00:00Z")],
      f"the write is a reading in the history: {evolution}")
status, _, answer = send("PATCH", BIN_ATTRS, {
    "fillingLevel": {"type": "Property", "value": 7.5, "observedAt": "2026-02-01T09:00:00Z"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon + 1, lat]}},
    "binCapacity": bin17["binCapacity"],
})
reasons = {n["attributeName"]: n["reason"] for n in answer.get("notUpdated", [])}
check(status == 207 and set(reasons) == {"fillingLevel", "location"} and answer["updated"] == ["binCapacity"],
      f"an impossible level and a moved bin refused, the same capacity harmless: {status} {answer}")
check("static" in reasons["location"] and "fillingLevel" in reasons["fillingLevel"], reasons)
status, _, answer = send("PATCH", BIN_ATTRS + "fillingLevel", {"value": 0.5, "unitCode": "MTR"})
problem(status, answer, 400, "BadRequestData", "a unit the twin does not keep the level in")
# The twin's estimates are marked, and an estimate written back is not a reading.
for _ in range(300):  # the first hydraulic solve may still be running
    status, _, junction = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Junction:j-1")
    if "pressure" in junction:
        break
    time.sleep(0.2)
check(status == 200 and junction["pressure"].get("estimated") == {"type": "Property", "value": True},
      f"a junction's computed pressure is marked as an estimate: {junction.get('pressure')}")
echo = dict(junction["pressure"], observedAt="2026-02-01T10:00:00Z")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Junction:j-1/attrs/", {"pressure": echo})
reasons = {n["attributeName"]: n["reason"] for n in answer.get("notUpdated", [])}
check(status == 207 and "estimate" in reasons.get("pressure", ""), f"an estimate is not a reading: {status} {answer}")
status, _, answer = send("DELETE", "/ngsi-ld/v1/entities/" + BIN)
problem(status, answer, 422, "OperationNotSupported", "deleting a twin asset")

# What the twin derives (roads, key figures, alerts, reports) is read, never written.
status, _, segment = get("/ngsi-ld/v1/entities/urn:ngsi-ld:RoadSegment:1")
road_id = segment["refRoad"]["object"]
status, _, road = get("/ngsi-ld/v1/entities/" + quoted(road_id))
check(status == 200 and road["type"] == "Road" and "urn:ngsi-ld:RoadSegment:1" in road["refRoadSegment"]["object"],
      f"a segment's road lists it: {status} {road}")
status, _, kpi = get("/ngsi-ld/v1/entities/urn:ngsi-ld:KeyPerformanceIndicator:power_load_kw")
check(status == 200 and kpi["kpiValue"]["unitCode"] == "KWT", f"a key figure: {kpi}")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:KeyPerformanceIndicator:power_load_kw/attrs/",
                         {"kpiValue": 1})
problem(status, answer, 422, "OperationNotSupported", "writing a key figure")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Alert:mine", "type": "Alert"})
problem(status, answer, 422, "OperationNotSupported", "creating an entity of a derived type")

# Batch operations: each entity on its own; 207 with the failures' ProblemDetails.
batch = [{"id": f"urn:ngsi-ld:Building:b{k}", "type": "Building", "floors": k} for k in (3, 4)]
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/create", batch + [{"id": "urn:ngsi-ld:Building:b2", "type": "Building"}])
check(status == 207 and answer["success"] == ["urn:ngsi-ld:Building:b3", "urn:ngsi-ld:Building:b4"], f"batch create: {answer}")
check(answer["errors"][0]["entityId"] == "urn:ngsi-ld:Building:b2"
      and answer["errors"][0]["error"]["type"] == ERRORS + "AlreadyExists", answer)
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update", [
    {"id": "urn:ngsi-ld:Building:b3", "type": "Building", "roof": "flat"},
    {"id": "urn:ngsi-ld:Building:b5", "type": "Building", "floors": 2},
    {"id": BIN, "type": "WasteContainer", "fillingLevel": {"value": 0.3, "observedAt": "2026-02-01T10:00:00Z"}},
])
check(status == 201 and answer == ["urn:ngsi-ld:Building:b5"], f"upsert answers the created ids: {status} {answer}")
status, _, b3 = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:b3")
check(b3["floors"]["value"] == 3 and b3["roof"]["value"] == "flat", f"options=update appends: {b3}")
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/upsert", [
    {"id": "urn:ngsi-ld:Building:b3", "type": "Building", "roof": "green"}])
status, _, b3 = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:b3")
check(status == 200 and "floors" not in b3 and b3["roof"]["value"] == "green", f"upsert replaces by default: {b3}")
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/update?options=noOverwrite", [
    {"id": "urn:ngsi-ld:Building:b4", "floors": 40}, {"id": "urn:ngsi-ld:Building:nope", "floors": 1}])
check(status == 207 and [e["entityId"] for e in answer["errors"]] == ["urn:ngsi-ld:Building:b4", "urn:ngsi-ld:Building:nope"],
      f"update: noOverwrite and a missing entity: {answer}")
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/delete",
                         ["urn:ngsi-ld:Building:b3", "urn:ngsi-ld:Building:missing", BIN])
check(status == 207 and answer["success"] == ["urn:ngsi-ld:Building:b3"]
      and [e["error"]["status"] for e in answer["errors"]] == [404, 422], f"batch delete: {answer}")
# NGSI-LD Null deletes an attribute in a merge or an update, and is no value to create.
status, _, answer = send("POST", "/ngsi-ld/v1/entities",
                         {"id": "urn:ngsi-ld:Building:nulls", "type": "Building", "roof": "flat", "floors": 2, "lift": True})
check(status == 201, f"b5 created: {status} {answer}")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:nulls", {"roof": "urn:ngsi-ld:null"},
                         {"Content-Type": "application/merge-patch+json"})
check(status == 204, f"merge with NGSI-LD Null: {status} {answer}")
status, _, answer = send("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:nulls/attrs",
                         {"floors": {"type": "Property", "value": "urn:ngsi-ld:null"}})
check(status == 204, f"update with NGSI-LD Null: {status} {answer}")
status, _, b5 = get("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:nulls")
check(status == 200 and "roof" not in b5 and "floors" not in b5 and b5["lift"]["value"] is True,
      f"NGSI-LD Null deleted the attributes: {b5}")
status, _, answer = send("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Building:b10", "type": "Building",
                                                          "roof": "urn:ngsi-ld:null"})
problem(status, answer, 400, "BadRequestData", "NGSI-LD Null in a new entity")
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                         [{"id": "urn:ngsi-ld:Building:nulls", "type": "Building", "lift": "urn:ngsi-ld:null"}])
check(status == 207 and answer["errors"][0]["error"]["status"] == 400, f"NGSI-LD Null in an upsert: {status} {answer}")

# An entity may have several types: an attribute write adds those it gives; a type query
# asks for all of them with `;`.
status, _, answer = send("POST", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:nulls/attrs", {"type": "Shop"})
check(status == 204, f"a type added: {status} {answer}")
status, _, found = get(entities({"type": "(Building;Shop)"}))
check(status == 200 and [e["id"] for e in found] == ["urn:ngsi-ld:Building:nulls"]
      and sorted(found[0]["type"]) == ["Building", "Shop"], f"both types: {found}")
status, _, answer = send("POST", "/ngsi-ld/v1/entities/" + BIN + "/attrs", {"type": "Shop"})
problem(status, answer, 422, "OperationNotSupported", "another type for a twin asset")

# A batch delete's list of ids needs no @context, also as application/ld+json.
send("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Building:b6", "type": "Building"})
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/delete", ["urn:ngsi-ld:Building:b6"],
                         {"Content-Type": "application/ld+json"})
check(status == 204, f"batch delete as ld+json: {status} {answer}")
status, _, answer = send("POST", "/ngsi-ld/v1/entityOperations/merge", [])
problem(status, answer, 404, "ResourceNotFound", "an operation that does not exist")

# Queries cover the broker's own entities with the twin's.
status, headers, found = get(entities({"type": "Building", "q": "floors>=2", "count": "true"}))
check(sorted(e["id"] for e in found) == ["urn:ngsi-ld:Building:b4", "urn:ngsi-ld:Building:b5", HALL],
      f"q over the broker's entities: {[e['id'] for e in found]}")
status, _, types = get("/ngsi-ld/v1/types")
check("Building" in types["typeList"] and "WasteContainer" in types["typeList"], types)

# Geo-queries, checked against a haversine and a box computed here over every bin.
bins, offset = [], 0
while True:
    status, _, page = get(entities({"type": "WasteContainer", "limit": 1000, "offset": offset, "pick": "id,location"}))
    bins += page
    offset += 1000
    if len(page) < 1000:
        break


def metres(a, b):
    (x1, y1), (x2, y2) = a, b
    p1, p2 = math.radians(y1), math.radians(y2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x2 - x1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


for radius in (150, 400):
    expected = sorted(b["id"] for b in bins if metres((lon, lat), b["location"]["value"]["coordinates"]) <= radius)
    # Bins within a metre of the edge could go either way between two distance formulas.
    edge = {b["id"] for b in bins if abs(metres((lon, lat), b["location"]["value"]["coordinates"]) - radius) < 1}
    status, _, near = get(entities({"type": "WasteContainer", "georel": f"near;maxDistance=={radius}",
                                    "geometry": "Point", "coordinates": f"[{lon},{lat}]", "limit": 1000}))
    got = sorted(e["id"] for e in near)
    check(status == 200 and set(got) ^ set(expected) <= edge, f"near {radius} m: {len(got)} vs {len(expected)}")
    check(BIN in got and len(expected) < len(bins), f"near {radius} m keeps bin 17, not every bin")
box = [[lon - 0.005, lat - 0.003], [lon + 0.005, lat - 0.003], [lon + 0.005, lat + 0.003],
       [lon - 0.005, lat + 0.003], [lon - 0.005, lat - 0.003]]
inside = sorted(b["id"] for b in bins
                if lon - 0.005 < b["location"]["value"]["coordinates"][0] < lon + 0.005
                and lat - 0.003 < b["location"]["value"]["coordinates"][1] < lat + 0.003)
status, _, within = get(entities({"type": "WasteContainer", "georel": "within", "geometry": "Polygon",
                                  "coordinates": str([box]), "limit": 1000}))
check(status == 200 and sorted(e["id"] for e in within) == inside and BIN in inside, f"within: {len(within)} vs {len(inside)}")
status, _, both = get(entities({"type": "Building,WasteContainer", "georel": "near;maxDistance==100",
                                "geometry": "Point", "coordinates": f"[{lon},{lat}]", "limit": 1000}))
check(HALL in [e["id"] for e in both], "the broker's building 80 m from bin 17 is near it")
status, _, answer = get(entities({"type": "WasteContainer", "georel": "within", "geometry": "Polygon",
                                  "coordinates": "[[[1,2]"}))
problem(status, answer, 400, "BadRequestData", "coordinates that are not JSON")

# One entity left deleted for the restart check.
status, _, _ = send("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:b4")
check(status == 204, "delete")
print("ok")
