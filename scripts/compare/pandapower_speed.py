#!/usr/bin/env python3
"""Time pandapower's Newton-Raphson load flow on case33bw and on a 1,000-bus radial feeder like
the one in twin-core/benches/utilities.rs, best of 20, for docs/benchmarks.md.
Usage: pip install pandapower; python3 scripts/compare/pandapower_speed.py"""
import time
import pandapower as pp
import pandapower.networks as pn


def best(net, runs=20):
    b = 1e9
    for _ in range(runs):
        t = time.perf_counter()
        pp.runpp(net, algorithm="nr", init="flat", tolerance_mva=1e-10)
        b = min(b, time.perf_counter() - t)
    return b * 1000


net = pn.case33bw()
print(f"pandapower {pp.__version__} case33bw: {best(net):.2f} ms, losses {net.res_line.pl_mw.sum() * 1000:.3f} kW")

feeder = pp.create_empty_network(sn_mva=10)
buses = [pp.create_bus(feeder, vn_kv=20.0) for _ in range(1000)]
pp.create_ext_grid(feeder, buses[0], vm_pu=1.0)
z_base = 20.0 ** 2 / 10.0
for k in range(1, 1000):
    bus_id = k + 1
    parent = max(bus_id - 1, 1) - 1
    pp.create_line_from_parameters(feeder, buses[parent], buses[k], length_km=1.0, r_ohm_per_km=0.0005 * z_base,
                                   x_ohm_per_km=0.0003 * z_base, c_nf_per_km=0.0, max_i_ka=1.0)
    pp.create_load(feeder, buses[k], p_mw=0.004, q_mvar=0.0016)
print(f"pandapower radial feeder, 1,000 buses: {best(feeder):.2f} ms, losses {feeder.res_line.pl_mw.sum() * 1000:.3f} kW")
