"""Write Testville, a small synthetic city bundle (not a real place), into this folder.

A 5 x 4 grid of two-way residential streets about 200 m apart, twelve residual and four
glass bins, two neighbourhoods, one gateway, a depot and a disposal site: just enough for
every generic command (serve, waste plan, scenarios) to run on a city that is not Pitesti.
Run: python3 data/testville/generate.py (deterministic; the files are committed).
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
LON0, LAT0 = 23.6000, 46.7700  # an empty spot of the map, for a city that does not exist
DLON, DLAT = 0.0026, 0.0018    # about 200 m each way at this latitude
COLS, ROWS = 5, 4


def node(c, r):
    return (round(LON0 + c * DLON, 7), round(LAT0 + r * DLAT, 7))


def node_id(c, r):
    return 1 + r * COLS + c


def metres(a, b):
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (b[0] - a[0]) * 111_320 * math.cos(lat)
    dy = (b[1] - a[1]) * 110_540
    return round(math.hypot(dx, dy), 2)


streets = []
def street(a, b, name):
    pa, pb = node(*a), node(*b)
    streets.append({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(pa), list(pb)]},
        "properties": {
            "id": f"street:{len(streets) + 1}", "name": name, "type": "RoadSegment",
            "roadClass": "residential", "length": metres(pa, pb), "totalLaneNumber": 2,
            "maximumAllowedSpeed": 50.0, "capacity": 900.0, "oneway": False,
            "startNode": node_id(*a), "endNode": node_id(*b),
        },
    })


for r in range(ROWS):
    for c in range(COLS - 1):
        street((c, r), (c + 1, r), f"Strada {r + 1}")
for c in range(COLS):
    for r in range(ROWS - 1):
        street((c, r), (c, r + 1), f"Aleea {c + 1}")

bins = []
for k, s in enumerate(streets[::2]):
    (a, b) = s["geometry"]["coordinates"]
    kind = "glass" if k % 4 == 3 else "residual"
    bins.append({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round((a[0] + b[0]) / 2, 7),
                                                      round((a[1] + b[1]) / 2 + 0.00005, 7)]},
        "properties": {"id": f"bin:{k + 1}", "type": "WasteContainer", "storedWasteKind": kind,
                       "binCapacity": 1100.0, "collectionPoint": k + 1},
    })


def collection(features):
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n"


with open(os.path.join(HERE, "streets.geojson"), "w") as f:
    f.write(collection(streets))
with open(os.path.join(HERE, "bins.geojson"), "w") as f:
    f.write(collection(bins))

west, east = node(0, 1), node(COLS - 1, 2)
centre = node(2, 1)
with open(os.path.join(HERE, "city.toml"), "w") as f:
    f.write(f"""# Testville: a small synthetic city bundle for tests (generate.py); not a real place.
name = "Testville"
population = 3000
timezone = "Europe/Bucharest"
centre = [{centre[0]}, {centre[1]}]

[layers]
streets = "streets.geojson"
bins = "bins.geojson"

[[neighbourhood]]
name = "West"
centre = [{node(1, 1)[0]}, {node(1, 1)[1]}]
population = 1800

[[neighbourhood]]
name = "East"
centre = [{node(3, 2)[0]}, {node(3, 2)[1]}]
population = 1200
jobs = 1500

[[gateway]]
name = "North road"
location = [{node(2, ROWS - 1)[0]}, {node(2, ROWS - 1)[1]}]
peak_inbound_veh_h = 150.0
peak_outbound_veh_h = 90.0

[waste]
depot = [{west[0]}, {west[1]}]

[[waste.disposal]]
name = "Testville landfill"
location = [{east[0]}, {east[1]}]
extra_km = 6.0
""")
