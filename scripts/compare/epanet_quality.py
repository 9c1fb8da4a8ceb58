#!/usr/bin/env python3
"""Water quality of the twin against EPANET 2.2 itself at every reporting time.

EPANET runs from the toolkit bundled with PyPI `wntr` on the original file (ENsolveH, then
ENopenQ/ENinitQ/ENrunQ/ENnextQ; node quality EN_QUALITY and link quality EN_LINKQUAL read at
every reporting time); the twin runs `twin solve water --inp FILE --duration-h H --json`.
Reports the largest absolute and relative (to the largest value of the run) differences of
node and link quality, and the time both take (quality included), best of three, interleaved.

Usage: /tmp/cmpvenv/bin/python scripts/compare/epanet_quality.py FILE.inp[:HOURS] ...
"""
import json, subprocess, sys, time
from wntr.epanet.toolkit import ENepanet

EN_QUALITY, EN_LINKQUAL, EN_DURATION, EN_REPORTSTEP = 12, 14, 0, 5


def epanet(inp, duration, nodes, links, collect=True):
    en = ENepanet()
    en.ENopen(inp, '/tmp/epq.rpt', '')
    if duration is not None:
        en.ENsettimeparam(EN_DURATION, int(duration))
    started = time.perf_counter()
    en.ENsolveH()
    report = en.ENgettimeparam(EN_REPORTSTEP)
    ni = {n: en.ENgetnodeindex(n) for n in nodes}
    li = {l: en.ENgetlinkindex(l) for l in links}
    out = {}
    en.ENopenQ(); en.ENinitQ(0)
    while True:
        t = en.ENrunQ()
        if collect and t % report == 0 and t not in out:
            out[t] = ({n: en.ENgetnodevalue(i, EN_QUALITY) for n, i in ni.items()},
                      {l: en.ENgetlinkvalue(k, EN_LINKQUAL) for l, k in li.items()})
        if en.ENnextQ() <= 0:
            break
    seconds = time.perf_counter() - started
    en.ENcloseQ(); en.ENclose()
    return out, seconds


def twin(inp, duration):
    args = ["./target/release/twin", "solve", "water", "--inp", inp, "--json", "--duration-h", str(duration / 3600)]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(run.stderr)
    return json.loads(run.stdout)


def main():
    print("| network | duration | report times | node quality: max diff (relative) | node-times beyond 1e-3 relative | link quality: max diff (relative) | twin | EPANET |")
    print("|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        inp, _, hours = arg.partition(':')
        if hours:
            # EPANET decides at input whether quality is simulated (none over a zero
            # duration): the duration is written into a copy of the file, not set afterwards.
            import re
            text = open(inp, encoding="latin-1").read()
            text, n = re.subn(r"(?im)^\s*DURATION\s+\S+.*$", f" DURATION {hours}:00", text)
            if n == 0:
                text = re.sub(r"(?im)^\[TIMES\]", f"[TIMES]\n DURATION {hours}:00", text, count=1)
            copy = f"/tmp/epq_{inp.rsplit('/', 1)[-1]}"
            with open(copy, "w", encoding="latin-1") as f:
                f.write(text)
            inp = copy
        en = ENepanet(); en.ENopen(inp, '/tmp/epq.rpt', '')
        duration = float(hours) * 3600 if hours else en.ENgettimeparam(EN_DURATION)
        en.ENclose()
        out = twin(inp, duration)
        nodes = [n["id"] for n in out["timesteps"][0]["nodes"]]
        links = [l["id"] for l in out["timesteps"][0]["links"]]
        ref, _ = epanet(inp, duration, nodes, links)
        worst = {"node": (0.0, ""), "link": (0.0, "")}
        top = 0.0
        compared = 0
        diffs = []
        for ts in out["timesteps"]:
            t = ts["time_s"]
            if t not in ref:
                continue
            compared += 1
            qn, ql = ref[t]
            for n in ts["nodes"]:
                top = max(top, abs(qn[n["id"]]))
                d = abs(n["quality"] - qn[n["id"]])
                diffs.append(d)
                if d > worst["node"][0]:
                    worst["node"] = (d, f"{n['id']} at {t / 3600:g} h")
            for l in ts["links"]:
                d = abs(l["quality"] - ql[l["id"]])
                if d > worst["link"][0]:
                    worst["link"] = (d, f"{l['id']} at {t / 3600:g} h")
        twin_s, ep_s = [], []
        for _ in range(3):
            twin_s.append(twin(inp, duration)["seconds"])
            ep_s.append(epanet(inp, duration, [], [], collect=False)[1])
        beyond = sum(1 for d in diffs if top and d / top > 1e-3)
        cell = lambda k: f"{worst[k][0]:.5f} ({worst[k][0] / top if top else 0:.1e}; {worst[k][1]})"
        print(f"| {inp.rsplit('/', 1)[-1]} | {duration / 3600:g} h | {compared} | {cell('node')} | {beyond} of {len(diffs)} | {cell('link')} | "
              f"{min(twin_s) * 1e3:.2f} ms | {min(ep_s) * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
