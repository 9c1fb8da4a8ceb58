"""Validate the twin's NGSI-LD entities against the Smart Data Models' published JSON Schemas
(data/smart-data-models/, offline: every remote $ref is resolved to the local copy) with the
`jsonschema` package (Draft 2020-12, as the schemas declare). The schemas describe the
keyValues representation, so entities are read with format=keyValues. Run by
tests/ngsi_ld.rs: `schemas.py BASE TOKEN ROOT`; exits non-zero listing the failures."""

import json
import pathlib
import sys
import urllib.parse

try:
    import jsonschema
    import referencing
    import referencing.jsonschema
except ImportError:
    sys.exit("FAILED: the Python package jsonschema is missing: run scripts/test.sh, which installs it into a venv")

from ngsi import check, get, send

ROOT = pathlib.Path(sys.argv[3]) / "data" / "smart-data-models"
# Remote addresses the schemas $ref, and the local copies.
REMOTE = {
    "https://smart-data-models.github.io/data-models/common-schema.json": "common/common-schema.json",
    "https://geojson.org/schema/Point.json": "common/geojson/Point.json",
    "https://geojson.org/schema/MultiPoint.json": "common/geojson/MultiPoint.json",
    "https://smart-data-models.github.io/dataModel.Alert/alert-schema.json": "dataModel.Alert/alert-schema.json",
    "https://smart-data-models.github.io/dataModel.Device/device-schema.json": "dataModel.Device/device-schema.json",
    "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json": "dataModel.Weather/weather-schema.json",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WaterDistributionManagementEPANET/master/WaterNetworkManagement-schema.json":
        "dataModel.WaterDistributionManagementEPANET/WaterNetworkManagement-schema.json",
}
# NGSI-LD type -> its schema.
SCHEMAS = {
    "WasteContainer": "dataModel.WasteManagement/WasteContainer/schema.json",
    "EVChargingStation": "dataModel.Transportation/EVChargingStation/schema.json",
    "RoadSegment": "dataModel.Transportation/RoadSegment/schema.json",
    "Junction": "dataModel.WaterDistributionManagementEPANET/Junction/schema.json",
    "Pipe": "dataModel.WaterDistributionManagementEPANET/Pipe/schema.json",
    "Tank": "dataModel.WaterDistributionManagementEPANET/Tank/schema.json",
    "Reservoir": "dataModel.WaterDistributionManagementEPANET/Reservoir/schema.json",
    "Pump": "dataModel.WaterDistributionManagementEPANET/Pump/schema.json",
    "Valve": "dataModel.WaterDistributionManagementEPANET/Valve/schema.json",
    "Substation": "dataModel.EnergyCIM/Substation/schema.json",
    "PowerTransformer": "dataModel.EnergyCIM/PowerTransformer/schema.json",
    "ACLineSegment": "dataModel.EnergyCIM/ACLineSegment/schema.json",
    "Switch": "dataModel.EnergyCIM/Switch/schema.json",
    "KeyPerformanceIndicator": "dataModel.KeyPerformanceIndicator/KeyPerformanceIndicator/schema.json",
    "Alert": "dataModel.Alert/Alert/schema.json",
    "IssueReporting": "dataModel.IssueTracking/IssueReporting/schema.json",
    "Road": "dataModel.Transportation/Road/schema.json",
}


def load(relative):
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def resource(schema):
    # Every schema is read as Draft 2020-12, the one most declare (Road's declares the
    # dialect-less "http://json-schema.org/schema#").
    return referencing.jsonschema.DRAFT202012.create_resource(schema)


resources = []
for url, relative in REMOTE.items():
    resources.append((url, resource(load(relative))))
for relative in SCHEMAS.values():
    schema = load(relative)
    resources.append((schema["$id"], resource(schema)))
registry = referencing.Registry().with_resources(resources)


def entities_of(ngsi_type, most=400):
    """Up to `most` entities of a type, keyValues, spread over the whole city."""
    status, headers, page = get("/ngsi-ld/v1/entities?" + urllib.parse.urlencode(
        {"type": ngsi_type, "limit": 0, "count": "true"}))
    total = int(headers.get("NGSILD-Results-Count", 0)) if status == 200 else 0
    step = max(1, total // most)
    out = []
    for offset in range(0, total, 1000):
        status, _, page = get("/ngsi-ld/v1/entities?" + urllib.parse.urlencode(
            {"type": ngsi_type, "format": "keyValues", "limit": 1000, "offset": offset}))
        check(status == 200, f"{ngsi_type}: {status} {page}")
        out += page
    return out[::step], total


# A citizen's report, so that the IssueReporting model is checked too.
status, _, answer = send("POST", "/api/reports", {"reporter": "schema-check", "kind": "overflowing",
                                                  "bin": "bin:17", "note": "capacul nu se închide"}, token=False)
check(status == 201, f"a citizen report: {status} {answer}")

failures = []
checked = {}
for ngsi_type, relative in SCHEMAS.items():
    validator = jsonschema.Draft202012Validator(load(relative), registry=registry)
    entities, total = entities_of(ngsi_type)
    checked[ngsi_type] = (len(entities), total)
    for entity in entities:
        for error in validator.iter_errors(entity):
            path = "/".join("*" if isinstance(p, int) else str(p) for p in error.absolute_path) or "(entity)"
            failures.append((f"{ngsi_type} {path} {error.validator} {error.message if error.validator == 'required' else ''}", f"{entity['id']}: {path}: {error.message[:160]}"))

# Alerts come and go with the live state; every other type must have been checked.
missing = [t for t, (n, _) in checked.items() if n == 0 and t != "Alert"]
check(not missing, f"no entities of {missing}")
if failures:
    kinds = {}
    for kind, example in failures:
        kinds.setdefault(kind, [0, example])[0] += 1
    sys.exit(f"FAILED: {len(failures)} schema errors of {len(kinds)} kinds (count, an example):\n"
             + "\n".join(f"{n} × {example}" for n, example in kinds.values()))
print("checked " + ", ".join(f"{t} {n}/{total}" for t, (n, total) in checked.items()), file=sys.stderr)
print("ok")
