#!/usr/bin/env python3
"""Pump energy of the twin against EPANET 2.2's energy report, and the golden file of
twin-core/tests/epanet_networks.rs.

EPANET (the toolkit bundled with PyPI `wntr`) runs the file with `[REPORT] Energy Yes` and writes
its report; its table is read back. EPANET 2.2's text report multiplies the demand charge by the
price twice (`output.c` stores peak kW × charge in `Emax`, `report.c` multiplies by the charge
again); the demand charge compared here is peak kW × charge, as EPANET's binary output holds it.

Usage: /tmp/cmpvenv/bin/python scripts/compare/epanet_energy.py FILE.inp HOURS [GOLDEN.csv]
"""
import json, re, subprocess, sys
from wntr.epanet.toolkit import ENepanet

inp, hours = sys.argv[1], float(sys.argv[2])
text = open(inp, encoding="latin-1").read()
text = re.sub(r"(?im)^\[REPORT\]", "[REPORT]\n Energy Yes", text, count=1)
with open("/tmp/epenergy.inp", "w") as f:
    f.write(text)
en = ENepanet()
en.ENopen("/tmp/epenergy.inp", "/tmp/epenergy.rpt", "/tmp/epenergy.bin")
en.ENsettimeparam(0, int(hours * 3600))
en.ENsolveH(); en.ENsolveQ(); en.ENreport(); en.ENclose()
report = open("/tmp/epenergy.rpt").read()
table = report[report.index("Energy Usage"):]
us = "/Mgal" in table
rows = {}
for line in table.splitlines()[5:]:
    f = line.split()
    if len(f) == 7 and not line.strip().startswith("-"):
        rows[f[0]] = [float(x) for x in f[1:]]
    elif line.strip().startswith("Demand Charge"):
        break
per_m3 = 1 / 3785.411784 if us else 1.0
out = json.loads(subprocess.check_output(["./target/release/twin", "solve", "water", "--inp", inp,
                                          "--duration-h", str(hours), "--json"], stderr=subprocess.DEVNULL))
print("| pump | utilization % | efficiency % | kWh/m³ | average kW | peak kW | cost/day |")
print("|---|---|---|---|---|---|---|")
golden = ["id,utilization_percent,efficiency_percent,kwh_per_m3,average_kw,peak_kw,cost_per_day"]
for p in out["energy"]["pumps"]:
    e = rows[p["id"]]
    e[2] *= per_m3
    twin = [p["utilization_percent"], p["efficiency_percent"], p["kwh_per_m3"], p["average_kw"], p["peak_kw"], p["cost_per_day"]]
    print(f"| {p['id']} | " + " | ".join(f"{t:.4g} / {x:.4g}" for t, x in zip(twin, e)) + " |")
    golden.append(",".join([p["id"]] + [f"{x:.6g}" for x in e]))
print("(twin / EPANET)")
if len(sys.argv) > 3:
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(golden) + "\n")
