#!/usr/bin/env python3
"""Render the demo dialogues in demo/dialogues/ to stereo telephone recordings in demo/calls/.

    .venv/bin/python scripts/make_demo_calls.py [--rate 16000] [--format flac]
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from democall import make_call  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialogues", default=ROOT / "demo" / "dialogues", type=Path)
    ap.add_argument("--out", default=ROOT / "demo" / "calls", type=Path)
    ap.add_argument("--rate", default=16000, type=int,
                    help="sample rate (16000 = wideband VoIP call, 8000 = narrowband telephone)")
    ap.add_argument("--format", default="flac", choices=["flac", "wav"])
    args = ap.parse_args()
    for d in sorted(args.dialogues.glob("*.yaml")):
        out = make_call(d, args.out / f"{d.stem}.{args.format}", rate=args.rate)
        print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
