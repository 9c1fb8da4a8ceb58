#!/usr/bin/env python3
"""Random EPANET networks with every feature, solved by the twin and by EPANET 2.2 itself.

Each network is a grid of junctions fed by a reservoir with a head pattern, with tanks (one on
a volume curve), a pump of a random curve kind (one point, three points, multi-point, constant
power) with a speed pattern, a valve of a random type, check valves, emitters, simple controls
of every form, sometimes rules, pressure-driven demand, a random head-loss formula and flow
unit, and a water-quality option (age, trace, or chlorine with reactions). Both solve it over
its duration; the script reports, per network, the largest head, flow and quality differences,
and counts the networks within 0.001 m, 0.01 l/s and 1e-3 relative quality. A network EPANET
refuses must be refused by the twin too.

Usage: /tmp/cmpvenv/bin/python scripts/compare/epanet_random.py [COUNT] [SEED]
"""
import json, os, random, subprocess, sys
from wntr.epanet.toolkit import ENepanet

FT = 0.3048
FLOW = {"CFS": 0.028316846592, "GPM": 0.028316846592 / 448.831, "MGD": 0.028316846592 / 0.64632,
        "LPS": 1e-3, "LPM": 1e-3 / 60, "CMH": 1 / 3600, "CMD": 1 / 86400}


def network(rng, n):
    units = rng.choice(list(FLOW))
    us = units in ("CFS", "GPM", "MGD")
    w, h = rng.randint(3, 6), rng.randint(3, 5)
    formula = rng.choice(["H-W", "D-W", "C-M"])
    rough = {"H-W": lambda: rng.uniform(90, 140), "D-W": lambda: rng.uniform(0.05, 2.0),
             "C-M": lambda: rng.uniform(0.011, 0.015)}[formula]
    q = lambda x: x * (1 / FLOW[units] / 1000)  # l/s to file units
    L = (lambda m: m / FT) if us else (lambda m: m)
    D = (lambda mm: mm / 25.4) if us else (lambda mm: mm)
    P = (lambda m: m * 1.4219702) if us else (lambda m: m)
    j = [f"J{i}" for i in range(w * h)]
    lines = ["[TITLE]", f"random network {n}", "", "[JUNCTIONS]"]
    for i, name in enumerate(j):
        lines.append(f"{name} {L(rng.uniform(5, 30)):.3f} {q(rng.uniform(0, 3)):.4f} {'D' if rng.random() < 0.7 else ''}")
    lines += ["", "[RESERVOIRS]", f"R {L(rng.uniform(80, 100)):.3f} H", "",
              "[TANKS]",
              f"T1 {L(55):.3f} {L(3):.3f} {L(0.5):.3f} {L(6):.3f} {L(rng.uniform(8, 15)):.3f} 0",
              f"T2 {L(50):.3f} {L(2):.3f} {L(0.2):.3f} {L(5):.3f} {L(1):.3f} 0 TV", "", "[PIPES]"]
    k = 0
    for y in range(h):
        for x in range(w):
            a = y * w + x
            for dx, dy in ((1, 0), (0, 1)):
                if x + dx < w and y + dy < h:
                    b = (y + dy) * w + x + dx
                    status = "CV" if rng.random() < 0.05 else ("Closed" if rng.random() < 0.03 else "Open")
                    lines.append(f"P{k} J{a} J{b} {L(rng.uniform(100, 600)):.2f} {D(rng.choice([100, 150, 200, 250])):.2f} {rough():.4f} {rng.choice([0, 0, 0.5, 2]):g} {status}")
                    k += 1
    last = len(j) - 1
    lines += [f"PR R J0 {L(200):.2f} {D(400):.2f} {rough():.4f} 0 Open",
              f"PT1 J{last} T1 {L(150):.2f} {D(200):.2f} {rough():.4f} 0 Open",
              f"PT2 J{w - 1} T2 {L(150):.2f} {D(150):.2f} {rough():.4f} 0 Open", ""]
    kind = rng.choice(["one", "three", "multi", "power"])
    curve = {"one": [(q(20), L(25))], "three": [(0, L(35)), (q(20), L(28)), (q(40), L(12))],
             "multi": [(q(5), L(34)), (q(15), L(31)), (q(30), L(24)), (q(45), L(10))]}
    pump = f"PU J{w * (h // 2)} J{w * (h // 2) + 1} " + (f"POWER {rng.uniform(3, 8):.2f}" if kind == "power" else "HEAD PC") + " PATTERN SP"
    lines += ["[PUMPS]", pump, ""]
    vtype = rng.choice(["PRV", "PSV", "FCV", "TCV", "PBV", "GPV"])
    va, vb = 1, 1 + w
    setting = {"PRV": f"{P(rng.uniform(20, 40)):.2f}", "PSV": f"{P(rng.uniform(10, 30)):.2f}",
               "FCV": f"{q(rng.uniform(1, 5)):.4f}", "TCV": f"{rng.uniform(1, 20):.2f}",
               "PBV": f"{P(rng.uniform(1, 5)):.2f}", "GPV": "GV"}[vtype]
    lines += ["[VALVES]", f"V1 J{va} J{vb} {D(150):.2f} {vtype} {setting} {rng.choice([0, 0.5]):g}", ""]
    lines += ["[EMITTERS]", f"J{rng.randrange(len(j))} {rng.uniform(0.05, 0.5) * (1 / FLOW[units] / 1000):.5f}", ""]
    lines += ["[CURVES]"]
    if kind in curve:
        lines += [f"PC {a:.5f} {b:.4f}" for a, b in curve[kind]]
    lines += [f"TV {L(x):.3f} {v:.3f}" for x, v in ((0, 0), (2, 40 * (1 / FT ** 3 if us else 1)), (5, 150 * (1 / FT ** 3 if us else 1)))]
    lines += [f"GV {q(a):.5f} {L(b):.4f}" for a, b in ((0, 0), (5, 1), (20, 8))]
    lines += ["", "[PATTERNS]",
              "D " + " ".join(f"{rng.uniform(0.4, 1.6):.3f}" for _ in range(12)),
              "H " + " ".join(f"{rng.uniform(0.97, 1.03):.3f}" for _ in range(6)),
              "SP " + " ".join(f"{rng.choice([1, 1, 0.9, 0.8, 0]):g}" for _ in range(6)), ""]
    lines += ["[CONTROLS]", f"LINK PT1 CLOSED IF NODE T1 ABOVE {L(5.5):.3f}", f"LINK PT1 OPEN IF NODE T1 BELOW {L(1.5):.3f}",
              f"LINK P1 CLOSED AT TIME {rng.randint(2, 10)}", f"LINK P1 OPEN AT CLOCKTIME {rng.randint(1, 11)} PM",
              f"LINK P2 CLOSED IF NODE J3 BELOW {P(5):.3f}", ""]
    if rng.random() < 0.5:
        lines += ["[RULES]", "RULE 1", f"IF TANK T2 LEVEL ABOVE {L(4):.3f}", "THEN PIPE PT2 STATUS IS CLOSED", "ELSE PIPE PT2 STATUS IS OPEN", "PRIORITY 1", ""]
    quality = rng.choice(["AGE", "TRACE R", "Chlorine mg/L"])
    lines += ["[OPTIONS]", f"UNITS {units}", f"HEADLOSS {formula}", f"QUALITY {quality}"]
    if rng.random() < 0.4:
        lines += ["DEMAND MODEL PDA", f"MINIMUM PRESSURE {P(2):.3f}", f"REQUIRED PRESSURE {P(15):.3f}"]
    lines += ["UNBALANCED CONTINUE 10", ""]
    if quality.startswith("Chlorine"):
        lines += ["[SOURCES]", "R CONCEN 0.8", "", "[REACTIONS]", f"ORDER BULK {rng.choice([1, 1.5, 2])}",
                  f"GLOBAL BULK {-rng.uniform(0.1, 1):.3f}", f"GLOBAL WALL {-rng.uniform(0, 0.3):.3f}", "",
                  "[MIXING]", f"T1 {rng.choice(['MIXED', '2COMP 0.4', 'FIFO', 'LIFO'])}", ""]
    lines += ["[TIMES]", f"DURATION {rng.randint(12, 48)}", "HYDRAULIC TIMESTEP 1:00", "QUALITY TIMESTEP 0:05",
              "PATTERN TIMESTEP 2:00", "REPORT TIMESTEP 1:00", "START CLOCKTIME 6 AM", "", "[END]", ""]
    return "\n".join(lines), us, units


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    within = refused_both = disagree_refusal = 0
    rows = []
    for n in range(count):
        text, us, units = network(rng, n)
        path = f"/tmp/rnd/random{n}.inp"
        with open(path, "w") as f:
            f.write(text)
        en = ENepanet()
        try:
            en.ENopen(path, "/tmp/rnd/r.rpt", "")
            ok = True
        except Exception:
            ok = False
        run = subprocess.run(["./target/release/twin", "solve", "water", "--inp", path, "--json",
                              "--duration-h", "48"], capture_output=True, text=True)
        if not ok:
            refused_both += run.returncode != 0
            disagree_refusal += run.returncode == 0
            rows.append(f"| {n} | EPANET refuses | twin {'refuses' if run.returncode else 'solves'} |")
            continue
        duration = en.ENgettimeparam(0)
        en.ENclose()
        run = subprocess.run(["./target/release/twin", "solve", "water", "--inp", path, "--json",
                              "--duration-h", str(duration / 3600)], capture_output=True, text=True)
        if run.returncode != 0:
            rows.append(f"| {n} | EPANET solves | twin: {run.stderr.strip().splitlines()[-1]} |")
            continue
        out = json.loads(run.stdout)
        en = ENepanet(); en.ENopen(path, "/tmp/rnd/r.rpt", "")
        en.ENsolveH()
        hm = FT if us else 1.0
        ni = {x["id"]: en.ENgetnodeindex(x["id"]) for x in out["timesteps"][0]["nodes"]}
        li = {x["id"]: en.ENgetlinkindex(x["id"]) for x in out["timesteps"][0]["links"]}
        by = {ts["time_s"]: ts for ts in out["timesteps"]}
        dh = dq = dc = top = 0.0
        en.ENopenQ(); en.ENinitQ(0)
        while True:
            t = en.ENrunQ()
            if t in by and t % 3600 == 0:
                ts = by[t]
                for x in ts["nodes"]:
                    i = ni[x["id"]]
                    if not x.get("disconnected"):
                        dh = max(dh, abs(x["head_m"] - en.ENgetnodevalue(i, 10) * hm))
                    c = en.ENgetnodevalue(i, 12)
                    top = max(top, abs(c))
                    dc = max(dc, abs(x["quality"] - c))
                for x in ts["links"]:
                    dq = max(dq, abs(x["flow_m3s"] * 1000 - en.ENgetlinkvalue(li[x["id"]], 8) * FLOW[units] * 1000))
            if en.ENnextQ() <= 0:
                break
        en.ENcloseQ(); en.ENclose()
        rel = dc / top if top else 0.0
        good = dh < 1e-3 and dq < 1e-2 and rel < 1e-3
        within += good
        rows.append(f"| {n} | {units} | head {dh:.4f} m, flow {dq:.4f} l/s, quality {rel:.1e} | {'within' if good else 'BEYOND'} |")
    print("| network | units | largest differences | verdict |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"{within} of {count} networks within 0.001 m, 0.01 l/s and 1e-3 quality; "
          f"{refused_both} refused by both; {disagree_refusal} refused by EPANET only")


if __name__ == "__main__":
    main()
