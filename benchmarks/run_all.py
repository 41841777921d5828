"""Run every benchmark script of this directory in turn (``make bench``).

Each script runs in its own process, so compile and cache-load costs are
measured as a user meets them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = ["bench_simulate.py", "bench_population.py", "bench_sobol.py", "bench_fit.py"]


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(here / name)]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
