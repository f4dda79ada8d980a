"""Import cost of ``severa_ext`` and of its hypothesis entry point.

Each figure is the median of ``--runs`` fresh interpreters, measured side by side in
one run: the wall-clock time of ``python -c STATEMENT`` minus that of ``python -c
pass``, and the cumulative microseconds ``python -X importtime`` gives the top-level
module, plus the number of modules the statement adds. ``import hypothesis`` is
measured with the package's entry point and without it (``HYPOTHESIS_NO_PLUGINS=1``,
hypothesis' own switch), so the difference is what the entry point costs a host's
suite.

    python benchmarks/bench_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

CASES = [
    ("import severa_ext", "severa_ext", {}),
    ("from severa_ext import Activity, CalendarItem", "severa_ext", {}),
    ("import severa_ext.cli", "severa_ext.cli", {}),
    ("import hypothesis", "hypothesis", {}),
    ("import hypothesis", "hypothesis", {"HYPOTHESIS_NO_PLUGINS": "1"}),
]


def _wall(statement: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], env=env, check=True)
    return time.perf_counter() - started


def _importtime(statement: str, module: str, env: dict[str, str]) -> int:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", re.M)
    found = pattern.findall(result.stderr)
    return int(found[-1]) if found else 0


def _modules(statement: str, env: dict[str, str]) -> int:
    code = f"import sys; before = len(sys.modules); {statement}; print(len(sys.modules) - before)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    base_env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_NO_PLUGINS"}
    print(f"python {sys.version.split()[0]}, {runs} runs each, medians")
    print(f"{'statement':<50} {'wall ms':>8} {'importtime ms':>14} {'modules':>8}")
    for statement, module, extra in CASES:
        env = {**base_env, **extra}
        walls, cumulative = [], []
        for _ in range(runs):  # interleaved, so load on the machine hits every case alike
            baseline = _wall("pass", env)
            walls.append(_wall(statement, env) - baseline)
            cumulative.append(_importtime(statement, module, env))
        label = statement + (" (no entry points)" if extra else "")
        print(
            f"{label:<50} {statistics.median(walls) * 1000:>8.1f} "
            f"{statistics.median(cumulative) / 1000:>14.1f} {_modules(statement, env):>8}"
        )


if __name__ == "__main__":
    main()
