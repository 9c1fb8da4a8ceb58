#!/usr/bin/env python3
"""Write EPANET 2.2's heads (m) and flows (l/s) at every reporting time as the golden files of
twin-core/tests/epanet_networks.rs.

EPANET runs from the toolkit bundled with PyPI `wntr` (libepanet 2.2) on the original file.
Output: PREFIX_heads.csv and PREFIX_flows.csv, one row per reporting time: `time_s,value,...`
after a header row `time_s,id,...`.

With a fourth argument `quality`, also PREFIX_quality.csv: node quality (the file's units) at
every reporting time (ENsolveH, then ENopenQ/ENinitQ/ENrunQ/ENnextQ).

Usage: /tmp/cmpvenv/bin/python scripts/compare/epanet_golden.py FILE.inp HOURS PREFIX [quality]
"""
import sys
from wntr.epanet.toolkit import ENepanet

FT = 0.3048
FLOW = {0: 0.028316846592, 1: 0.028316846592 / 448.831, 2: 0.028316846592 / 0.64632,
        3: 0.028316846592 / 0.5382, 4: 0.028316846592 / 1.9837, 5: 1e-3, 6: 1e-3 / 60,
        7: 1e3 / 86400, 8: 1 / 3600, 9: 1 / 86400}


def link_ids(inp):
    """Link ids in file order (the toolkit wrapper has no ENgetlinkid)."""
    ids, section = [], None
    for line in open(inp, encoding="latin-1"):
        line = line.split(';')[0].strip()
        if not line:
            continue
        if line.startswith('['):
            section = line.upper()
            continue
        if section in ('[PIPES]', '[PUMPS]', '[VALVES]'):
            ids.append(line.split()[0])
    return ids


def main():
    inp, hours, prefix = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    en = ENepanet()
    en.ENopen(inp, '/tmp/golden.rpt', '')
    en.ENsettimeparam(0, int(hours * 3600))
    units = en.ENgetflowunits()
    head_m = FT if units <= 4 else 1.0
    flow_ls = FLOW[units] * 1000
    nodes = [en.ENgetnodeid(i) for i in range(1, en.ENgetcount(0) + 1)]
    links = link_ids(inp)
    index = [en.ENgetlinkindex(l) for l in links]
    report = en.ENgettimeparam(5)
    heads, flows = [], []
    en.ENopenH(); en.ENinitH(0)
    while True:
        t = en.ENrunH()
        if t % report == 0 and (not heads or heads[-1][0] != t):
            heads.append([t] + [en.ENgetnodevalue(i, 10) * head_m for i in range(1, len(nodes) + 1)])
            flows.append([t] + [en.ENgetlinkvalue(k, 8) * flow_ls for k in index])
        if en.ENnextH() <= 0:
            break
    outputs = [("heads", nodes, heads), ("flows", links, flows)]
    if len(sys.argv) > 4 and sys.argv[4] == "quality":
        en.ENcloseH(); en.ENclose()
        en = ENepanet()
        en.ENopen(inp, '/tmp/golden.rpt', '')
        en.ENsettimeparam(0, int(hours * 3600))
        en.ENsolveH(); en.ENopenQ(); en.ENinitQ(0)
        quality = []
        while True:
            t = en.ENrunQ()
            if t % report == 0 and (not quality or quality[-1][0] != t):
                quality.append([t] + [en.ENgetnodevalue(i, 12) for i in range(1, len(nodes) + 1)])
            if en.ENnextQ() <= 0:
                break
        outputs.append(("quality", nodes, quality))
    for name, ids, rows in outputs:
        with open(f"{prefix}_{name}.csv", "w") as f:
            f.write(",".join(["time_s"] + ids) + "\n")
            for r in rows:
                f.write(",".join([str(r[0])] + [f"{x:.7g}" for x in r[1:]]) + "\n")


if __name__ == "__main__":
    main()
