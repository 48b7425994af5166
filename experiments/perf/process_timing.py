"""Per-process timing at full scale, metrics switched off (they run on the other core in real runs).

usage:  python3 experiments/perf/process_timing.py [scale=1.0] [end_year=2026]
Years start_year+1..start_year+2 are warm-up; the table gives ms per simulated year over the remaining years,
both wall (perf_counter) and CPU (process_time; less sensitive to other jobs on this 2-core machine).
"""
import sys
import time

import simulator
from simulator import FabriqueModel

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
end = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
print("package:", simulator.__file__)
c0, t0 = time.process_time(), time.perf_counter()
m = FabriqueModel("fabrique2040", scale=scale, seed=1, overlap_metrics=False, end_year=end)
print(f"synthesis+init: wall {time.perf_counter()-t0:.2f} s, cpu {time.process_time()-c0:.2f} s")
m.collect = lambda events: None
for _ in range(2):
    m.step()
cpu = {}
class Wrap:
    def __init__(self, name, mod): self.name, self.mod = name, mod
    def __getattr__(self, a): return getattr(self.mod, a)
    def step(self, model):
        c = time.process_time(); out = self.mod.step(model); cpu[self.name] = cpu.get(self.name, 0) + time.process_time() - c
        return out
m.processes = {k: Wrap(k, v) for k, v in m.processes.items()}
m.timings.clear()
years = 0
c0, t0 = time.process_time(), time.perf_counter()
while m.running:
    m.step(); years += 1
wall, tot = time.perf_counter() - t0, time.process_time() - c0
print(f"{years} years: wall {wall/years*1000:.0f} ms/yr, cpu {tot/years*1000:.0f} ms/yr")
for k in m.timings:
    print(f"  {k:14s} wall {m.timings[k]/years*1000:6.0f} ms/yr   cpu {cpu.get(k, float('nan'))/years*1000:6.0f} ms/yr")
