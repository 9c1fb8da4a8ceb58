#!/usr/bin/env python3
"""Time EPANET 2.2 (the toolkit bundled with PyPI wntr) on an .inp: one period and 24 h, best of 5.
Usage: pip install wntr; python3 scripts/compare/epanet_speed.py data/pitesti/water.inp"""
import sys, time
from wntr.epanet.toolkit import ENepanet
inp = sys.argv[1]
def timed(duration_h, reps=5):
    best = 1e9
    for _ in range(reps):
        en = ENepanet()
        en.ENopen(inp, '/tmp/ep.rpt', '')
        en.ENsettimeparam(0, int(duration_h*3600))  # EN_DURATION
        t = time.perf_counter()
        en.ENopenH(); en.ENinitH(0)
        steps = 0
        while True:
            en.ENrunH(); steps += 1
            if en.ENnextH() <= 0: break
        en.ENcloseH()
        best = min(best, time.perf_counter() - t)
        en.ENclose()
    return best, steps
for h in (0, 24):
    b, s = timed(h)
    print(f"EPANET 2.2 toolkit {inp}: duration {h} h: {s} hydraulic solves, best of 5 {b*1000:.2f} ms")
