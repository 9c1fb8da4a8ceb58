#!/usr/bin/env python3
"""Independent expectations for `twin import osm` on the samples in this folder.

Written without citytwin's code (ElementTree, a ray-casting point-in-polygon, haversine on the
mean Earth radius), following the rules in docs/formats.md: drivable highway classes only
(motorway..service and their _link roads, living_street; not area=yes), nodes outside the boundary
dropped (cutting the way), a segment ends at every node used twice by drivable ways and at every
way end. Writes expected.json, which the Rust tests compare against.
Run: python3 data/osm-samples/expected.py
"""
import json
import math
import os
import xml.etree.ElementTree as ET

DRIVABLE = {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified",
            "residential", "living_street", "service"}
R = 6371008.8


def haversine(a, b):
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


def inside(p, rings):
    hit = False
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
            if (y1 > p[1]) != (y2 > p[1]):
                x = x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1)
                if p[0] < x:
                    hit = not hit
    return hit


def expect(folder):
    root = ET.parse(os.path.join(folder, "input.osm")).getroot()
    nodes = {int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    b = json.load(open(os.path.join(folder, "boundary.json")))
    geom = b["features"][0]["geometry"] if b["type"] == "FeatureCollection" else b.get("geometry", b)
    rings = geom["coordinates"] if geom["type"] == "Polygon" else [r for poly in geom["coordinates"] for r in poly]
    runs = []
    for way in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        hw = tags.get("highway", "")
        base = hw[:-5] if hw.endswith("_link") else hw
        if base not in DRIVABLE or tags.get("area") == "yes":
            continue
        oneway = tags.get("oneway") in ("yes", "true", "1", "-1", "reverse") or (
            tags.get("oneway") not in ("no", "false", "0") and (tags.get("junction") in ("roundabout", "circular") or base == "motorway"))
        run = []
        for nd in way.iter("nd"):
            ref = int(nd.get("ref"))
            if ref in nodes and inside(nodes[ref], rings):
                run.append(ref)
            else:
                if len(run) >= 2:
                    runs.append((run, oneway))
                run = []
        if len(run) >= 2:
            runs.append((run, oneway))
    uses = {}
    for run, _ in runs:
        for n in run:
            uses[n] = uses.get(n, 0) + 1
        for n in (run[0], run[-1]):
            uses[n] = uses.get(n, 0) + 1
    segments, oneways, length, ends = 0, 0, 0.0, set()
    for run, oneway in runs:
        start = 0
        for i in range(1, len(run)):
            if i != len(run) - 1 and uses[run[i]] < 2:
                continue
            piece = run[start:i + 1]
            start = i
            dedup = [n for k, n in enumerate(piece) if k == 0 or n != piece[k - 1]]
            if len(dedup) < 2:
                continue
            seg_len = sum(haversine(nodes[a], nodes[b]) for a, b in zip(dedup, dedup[1:]))
            if seg_len <= 0:
                continue
            segments += 1
            oneways += oneway
            length += seg_len
            ends.update((dedup[0], dedup[-1]))
    return {"segments": segments, "oneway_segments": oneways, "intersections": len(ends), "length_m": round(length, 3)}


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    out = {name: expect(os.path.join(here, name)) for name in ("neukolln", "bristol_contraflow_cycleway")}
    with open(os.path.join(here, "expected.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(out, indent=2, sort_keys=True))
