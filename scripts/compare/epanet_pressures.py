#!/usr/bin/env python3
"""Largest pressure difference between EPANET 2.2 (via wntr) and `twin solve water` over 24 h.
Usage: pip install wntr; cargo build --release; python3 scripts/compare/epanet_pressures.py data/pitesti/water.inp"""
import wntr, sys, time, json, subprocess
inp = sys.argv[1]
wn = wntr.network.WaterNetworkModel(inp)
def run(duration):
    wn.options.time.duration = duration
    sim = wntr.sim.EpanetSimulator(wn)
    t = time.perf_counter(); res = sim.run_sim(file_prefix='/tmp/epcmp'); return res, time.perf_counter() - t
res0, t0 = run(0)
res24, t24 = run(24*3600)
print(f"EPANET via wntr (incl. file I/O): t=0 {t0*1000:.1f} ms, 24 h {t24*1000:.1f} ms")
# twin's results
out = json.loads(subprocess.check_output(["./target/release/twin", "solve", "water", "--inp", inp, "--duration-h", "24", "--json"]))
worst = 0.0
compared = 0
for ts in out["timesteps"]:
    t = ts["time_s"]
    if t not in res24.node['pressure'].index: continue
    row = res24.node['pressure'].loc[t]
    for n in ts["nodes"]:
        if n.get("disconnected"):  # cut off: zero pressure by definition, EPANET's head is noise
            continue
        worst = max(worst, abs(n["pressure_m"] - row[n["id"]]))
        compared += 1
if compared == 0:
    sys.exit("no reporting time in common: nothing compared")
print(f"max |pressure twin - EPANET| over 24 h, {compared} node-times compared: {worst:.4f} m; twin solve time {out['seconds']*1000:.1f} ms")
