#!/usr/bin/env python3
"""Write ltown_valves.gpkg: an isolation-valve layer for L-TOWN as a utility's GIS would export
it (OGC GeoPackage 1.3, points in L-TOWN's local grid, no link or node columns), for the import
tests. Strategy "N-1" (Walski 1993): at every junction with two or more pipes, a valve on each
pipe but the largest, 1.5 m from the junction along the pipe. Python's standard library only.

Usage: python3 data/import/make_ltown_valves.py  (from the repository root)"""
import math, re, sqlite3, struct, os

HERE = os.path.dirname(os.path.abspath(__file__))
INP = os.path.join(HERE, "L-TOWN.inp")
OUT = os.path.join(HERE, "ltown_valves.gpkg")
# L-TOWN's coordinates are metres on a local grid; placed over Pitești by a transverse Mercator.
WKT = ('PROJCS["L-TOWN local grid",GEOGCS["GRS 1980",DATUM["unknown",SPHEROID["GRS 1980",6378137,298.257222101]],'
       'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
       'PARAMETER["latitude_of_origin",44.8606],PARAMETER["central_meridian",24.8678],PARAMETER["scale_factor",1],'
       'PARAMETER["false_easting",1485],PARAMETER["false_northing",847],UNIT["metre",1]]')
SRS_ID = 100001

text = open(INP, encoding="utf-8").read()
def section(name):
    m = re.search(r"^\[" + name + r"\]\s*\n(.*?)(?=^\[)", text, re.S | re.M)
    return [l.split(";")[0].split() for l in m.group(1).splitlines() if l.split(";")[0].strip()]
xy = {r[0]: (float(r[1]), float(r[2])) for r in section("COORDINATES")}
junctions = {r[0] for r in section("JUNCTIONS")}
pipes = [(r[0], r[1], r[2], float(r[4])) for r in section("PIPES")]
at = {}
for pid, a, b, d in pipes:
    at.setdefault(a, []).append((pid, b, d))
    at.setdefault(b, []).append((pid, a, d))

def point_blob(x, y):
    header = b"GP" + bytes([0, 0b0000_0001]) + struct.pack("<i", SRS_ID)
    return header + struct.pack("<BIdd", 1, 1, x, y)

if os.path.exists(OUT):
    os.remove(OUT)
db = sqlite3.connect(OUT)
db.executescript(f"""
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME, min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
CREATE TABLE valves (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, cod TEXT, diam_mm REAL);
""")
db.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL)")
db.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL)")
db.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[\"WGS 84\"]', NULL)")
db.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('L-TOWN local grid', ?, 'NONE', ?, ?, NULL)", (SRS_ID, SRS_ID, WKT))
db.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('valves', 'features', 'valves', ?)", (SRS_ID,))
db.execute("INSERT INTO gpkg_geometry_columns VALUES ('valves', 'geom', 'POINT', ?, 0, 0)", (SRS_ID,))
n = 0
for node in sorted(at, key=lambda s: (len(s), s)):
    if node not in junctions or len(at[node]) < 2:
        continue
    largest = max(at[node], key=lambda p: (p[2], p[0]))
    for pid, other, d in sorted(at[node]):
        if (pid, other, d) == largest:
            continue
        (x0, y0), (x1, y1) = xy[node], xy[other]
        length = math.hypot(x1 - x0, y1 - y0)
        t = min(1.5, length / 3) / length if length > 0 else 0.0
        n += 1
        db.execute("INSERT INTO valves (geom, cod, diam_mm) VALUES (?, ?, ?)",
                   (point_blob(x0 + t * (x1 - x0), y0 + t * (y1 - y0)), f"V{n}", d))
db.commit()
print(f"{OUT}: {n} valves")
