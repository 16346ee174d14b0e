"""Runs a command and reports how busy the machine was meanwhile, so a noisy timing can be recognised.

    python bench/measured.py REPORT.json -- CMD ARGS...

Writes REPORT.json: {"wall_s", "own_cpu_s" (the command's user+sys, children included),
"machine_cpu_s" (all CPUs' busy time from /proc/stat), "foreign_cpu_s" (machine minus own: other
processes' CPU use during the run), "foreign_cores" (foreign_cpu_s / wall_s), "own_sys_s" (kernel part of own_cpu_s), "steal_s"
(time the hypervisor gave the VM's CPUs to others), "max_rss_mb" (largest child), "cores"}. The command's
stdout/stderr pass through; the exit status is the command's.

    python bench/measured.py --wait-idle 0.3 --max-wait 600
waits until other processes use less than 0.3 cores (over a 3 s sample) or max-wait seconds pass, and
prints how many cores were busy at the end.
"""
import json
import os
import resource
import subprocess
import sys
import time


def cpu_times():
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    return busy / hz, v[7] / hz


def busy_total():
    return cpu_times()[0]


def wait_idle(threshold, max_wait):
    t0 = time.time()
    while True:
        b0 = busy_total()
        time.sleep(3)
        busy = (busy_total() - b0) / 3
        if busy < threshold or time.time() - t0 > max_wait:
            print("%.2f" % busy)
            return


def main():
    if sys.argv[1] == "--wait-idle":
        return wait_idle(float(sys.argv[2]), float(sys.argv[4]) if len(sys.argv) > 4 else 600)
    report, cmd = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    (b0, st0), t0 = cpu_times(), time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(cmd)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (b1, st1), wall = cpu_times(), time.perf_counter() - t0
    busy = b1 - b0
    own_sys = r1.ru_stime - r0.ru_stime
    own = (r1.ru_utime - r0.ru_utime) + own_sys
    with open(report, "w") as f:
        json.dump({"wall_s": round(wall, 2), "own_cpu_s": round(own, 2), "own_sys_s": round(own_sys, 2),
                   "machine_cpu_s": round(busy, 2), "foreign_cpu_s": round(max(busy - own, 0.0), 2),
                   "foreign_cores": round(max(busy - own, 0.0) / wall, 2), "steal_s": round(st1 - st0, 2),
                   "max_rss_mb": round(r1.ru_maxrss / 1024), "cores": os.cpu_count()}, f)
    sys.exit(rc)


if __name__ == "__main__":
    main()
