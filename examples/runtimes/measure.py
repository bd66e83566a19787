"""Time a runtime component's calls with `runplane plugin check --json`: the first load
(compiled, then cached) and the median of each call over RUNS warm checks.

    python3 examples/runtimes/measure.py RUNPLANE COMPONENT SAMPLES [RUNS]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile


def check(runplane: str, component: str, samples: str, env: dict[str, str]) -> dict:
    """One `plugin check --json` report."""
    argv = [runplane, "plugin", "check", component, "--samples", samples, "--json"]
    return json.loads(subprocess.run(argv, env=env, capture_output=True, text=True).stdout)


def main(runplane: str, component: str, samples: str, runs: str = "7") -> None:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, XDG_CACHE_HOME=cache, RUNPLANE_HOME=home)
        reports = [check(runplane, component, samples, env) for _ in range(int(runs) + 1)]
    cold, warm = reports[0], reports[1:]
    loads = [r["load"]["milliseconds"] for r in warm]
    peak = max(r["limits"]["peak_memory_bytes"] for r in warm) / 2**20
    print(
        f"{os.path.getsize(component) / 1e6:.1f} MB; first load {cold['load']['milliseconds']:.0f}"
        f" ms, cached {statistics.median(loads):.0f} ms; peak memory {peak:.1f} MiB"
    )
    calls: dict[str, list[float]] = {}
    for report in warm:
        for call in report["calls"]:
            calls.setdefault(f"{call['target']} {call['call']}", []).append(call["milliseconds"])
    for name, times in calls.items():
        print(f"  {name}: {statistics.median(times):.2f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:])
