#!/usr/bin/env python3
"""Reference points for twin-core's CRS tests (twin-core/src/crs.rs), from PROJ itself.

Usage: pip install pyproj; python3 scripts/compare/crs_points.py
Prints, for Pitești's centre (24.8678 E, 44.8606 N), its easting and northing in the CRSs the
tests transform back to WGS84, with PROJ's best transformation (always_xy)."""
from pyproj import Transformer, __proj_version__

LON, LAT = 24.8678, 44.8606
print(f"PROJ {__proj_version__}")
for crs in ("EPSG:3844", "EPSG:32635", "EPSG:3857"):
    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = t.transform(LON, LAT)
    print(f"{crs}: x {x:.2f} y {y:.2f}")
