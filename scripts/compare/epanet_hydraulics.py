#!/usr/bin/env python3
"""Heads, flows and tank levels of the twin against EPANET 2.2 itself, at every reporting
time of each network's full duration, and the time both take.

EPANET runs from the toolkit bundled with PyPI `wntr` (libepanet 2.2) on the original file
(ENopenH/ENinitH/ENrunH/ENnextH; results read at every reporting time); the twin runs
`twin solve water --inp FILE --duration-h DURATION --json`. Differences are in SI: head and tank
level in m, flow in l/s. Times are best-of-3 of the hydraulic loop alone (no file reading),
interleaved.

Usage: python3 -m venv /tmp/cmpvenv && /tmp/cmpvenv/bin/pip install wntr
       cargo build --release
       /tmp/cmpvenv/bin/python scripts/compare/epanet_hydraulics.py FILE.inp[:HOURS] ...
`:HOURS` runs both for that duration instead of the file's. Prints one markdown table row per
network.
"""
import json, subprocess, sys, time
from wntr.epanet.toolkit import ENepanet

EN_NODECOUNT, EN_LINKCOUNT = 0, 2
EN_HEAD, EN_FLOW = 10, 8
EN_DURATION, EN_REPORTSTEP = 0, 5
EN_TANK = 2
EN_NODETYPE = 7  # not used: ENgetnodetype
FT = 0.3048
# Flow units codes of EPANET 2.2 → m³/s per unit.
FLOW = {0: 0.028316846592, 1: 0.028316846592 / 448.831, 2: 0.028316846592 / 0.64632,
        3: 0.028316846592 / 0.5382, 4: 0.028316846592 / 1.9837, 5: 1e-3, 6: 1e-3 / 60,
        7: 1e3 / 86400, 8: 1 / 3600, 9: 1 / 86400}


def open_epanet(inp, duration):
    en = ENepanet()
    en.ENopen(inp, '/tmp/epcmp.rpt', '')
    if duration is not None:
        en.ENsettimeparam(EN_DURATION, int(duration))
    return en


def epanet(inp, links, duration):
    """EPANET's results at every reporting time: {t: (heads by node id, flows by link id)};
    `links` the link ids (the toolkit wrapper has no ENgetlinkid)."""
    en = open_epanet(inp, duration)
    units = en.ENgetflowunits()
    us = units <= 4
    head_m = FT if us else 1.0
    flow_m3s = FLOW[units]
    nodes = [en.ENgetnodeid(i) for i in range(1, en.ENgetcount(EN_NODECOUNT) + 1)]
    tanks = {en.ENgetnodeid(i) for i in range(1, len(nodes) + 1) if en.ENgetnodetype(i) == EN_TANK}
    link_index = {l: en.ENgetlinkindex(l) for l in links}
    duration = en.ENgettimeparam(EN_DURATION)
    report = en.ENgettimeparam(EN_REPORTSTEP)
    out = {}
    started = time.perf_counter()
    en.ENopenH(); en.ENinitH(0)
    while True:
        t = en.ENrunH()
        if t % report == 0 and t not in out:
            out[t] = ({n: en.ENgetnodevalue(i + 1, EN_HEAD) * head_m for i, n in enumerate(nodes)},
                      {l: en.ENgetlinkvalue(k, EN_FLOW) * flow_m3s for l, k in link_index.items()})
        if en.ENnextH() <= 0:
            break
    seconds = time.perf_counter() - started
    en.ENcloseH(); en.ENclose()
    return out, tanks, duration, seconds


def epanet_time(inp, duration):
    en = open_epanet(inp, duration)
    started = time.perf_counter()
    en.ENopenH(); en.ENinitH(0)
    while True:
        en.ENrunH()
        if en.ENnextH() <= 0:
            break
    seconds = time.perf_counter() - started
    en.ENcloseH(); en.ENclose()
    return seconds


def twin(inp, duration):
    run = subprocess.run(["./target/release/twin", "solve", "water", "--inp", inp,
                          "--duration-h", str(duration / 3600), "--json"], capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"
    return json.loads(run.stdout), None


def main():
    print("| network | duration | report times | max head diff (m) | max flow diff (l/s) | max tank level diff (m) | twin hydraulics | EPANET hydraulics |")
    print("|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        inp, _, hours = arg.partition(':')
        en = open_epanet(inp, float(hours) * 3600 if hours else None)
        duration = en.ENgettimeparam(EN_DURATION)
        en.ENclose()
        out, error = twin(inp, duration)
        name = inp.rsplit('/', 1)[-1]
        if out is None:
            print(f"| {name} | {duration / 3600:g} h | – | twin: {error} | | | | |")
            continue
        ref, tanks, _, _ = epanet(inp, [l["id"] for l in out["timesteps"][0]["links"]], duration)
        worst = {"head": (0.0, None), "flow": (0.0, None), "tank": (0.0, None)}
        compared = 0
        for ts in out["timesteps"]:
            t = ts["time_s"]
            if t not in ref:
                continue
            heads, flows = ref[t]
            compared += 1
            for n in ts["nodes"]:
                if n.get("disconnected"):
                    continue  # cut off: zero pressure by definition; EPANET's head is noise
                d = abs(n["head_m"] - heads[n["id"]])
                key = "tank" if n["id"] in tanks else "head"
                if d > worst[key][0]:
                    worst[key] = (d, f"{n['id']} at {t / 3600:g} h")
            for l in ts["links"]:
                d = abs(l["flow_m3s"] - flows[l["id"]]) * 1000
                if d > worst["flow"][0]:
                    worst["flow"] = (d, f"{l['id']} at {t / 3600:g} h")
        # Speed: best of 3, interleaved.
        twin_s, ep_s = [], []
        for _ in range(3):
            o, _ = twin(inp, duration)
            twin_s.append(o["seconds"])
            ep_s.append(epanet_time(inp, duration))
        missing = len(ref) - compared
        cell = lambda k: f"{worst[k][0]:.4f}" + (f" ({worst[k][1]})" if worst[k][1] and worst[k][0] > 1e-3 else "")
        print(f"| {name} | {duration / 3600:g} h | {compared}" + (f" ({missing} of EPANET's missing)" if missing else "")
              + f" | {cell('head')} | {cell('flow')} | {cell('tank')} | {min(twin_s) * 1e3:.2f} ms | {min(ep_s) * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
