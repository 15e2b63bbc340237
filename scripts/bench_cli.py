#!/usr/bin/env python3
"""How long one `callassist analyze` of a short call takes as its own process, start to exit,
and what the interpreter's teardown would add (the program skips it: cli._exit).

Runs, alternating so a busy machine slows both alike:
  * the program:           callassist analyze CALL --quiet
  * with the teardown:     python -c "sys.exit(main([...]))" (main given its arguments returns
                           instead of ending the process, so Python frees every module)

    .venv/bin/python scripts/bench_cli.py [--runs 5] [CALL]

CALL defaults to a 3 s espeak-ng sentence (the fuzz test's good call).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("call", nargs="?", help="a recording (default: a 3 s espeak-ng sentence)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    call = args.call
    if call is None:
        call = str(tmp / "call.wav")
        subprocess.run(["espeak-ng", "-w", call, "Hello, I want to return my order please."],
                       check=True)
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):  # the user's settings and library untouched
        env[var] = str(tmp / var)
    exe = Path(sys.executable).with_name("callassist")
    program = [str(exe)] if exe.exists() else [sys.executable, "-m", "callassist.cli"]
    variants = {
        "program (no teardown)": program + ["analyze", call, "--quiet"],
        "with the teardown": [sys.executable, "-c",
                              "import sys; from callassist.cli import main; "
                              f"sys.exit(main(['analyze', {call!r}, '--quiet']))"],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    subprocess.run(variants["program (no teardown)"], cwd=ROOT, env=env,  # warm the page cache
                   stdout=subprocess.DEVNULL, check=True)
    for _ in range(args.runs):
        for name, argv in variants.items():
            t0 = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - t0)
    print(f"callassist analyze of {Path(call).name}, {args.runs} runs each, alternating")
    for name, ts in times.items():
        print(f"  {name:24s} median {statistics.median(ts):5.2f} s   "
              f"min {min(ts):5.2f}   max {max(ts):5.2f}")
    a, b = (statistics.median(t) for t in times.values())
    print(f"  teardown skipped saves {b - a:.2f} s ({(b - a) / b:.0%} of the run)")


if __name__ == "__main__":
    main()
