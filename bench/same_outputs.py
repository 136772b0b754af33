"""Not a benchmark: whether two runs of the workflow made the same outputs, byte by byte.

    python bench/same_outputs.py WORKDIR_A WORKDIR_B [--under results/manifests results/metrics ...]

Compares every file under `results/` (or the folders given) of two working directories: files only
in one, and files whose bytes differ. A training log's `seconds` column is wall time, so logs are
compared without it (and without a profiled log's per-phase times). Prints JSON; exits 1 when anything differs (for refactors that must change
no output, e.g. on the tiny config).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd


def digest(path: Path) -> str:
    if path.name == "train_log.csv":
        log = pd.read_csv(path)
        timed = [column for column in log.columns if column == "seconds" or column.startswith("t_")]
        return hashlib.sha256(log.drop(columns=timed).to_csv(index=False).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(workdir: Path, folders: list[str]) -> dict[str, str]:
    return {str(path.relative_to(workdir)): digest(path) for folder in folders for path in sorted((workdir / folder).rglob("*")) if path.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--under", nargs="+", default=["results"])
    args = parser.parse_args()
    a, b = files(args.first, args.under), files(args.second, args.under)
    report = {
        "compared": len(set(a) & set(b)),
        "identical": sum(a[name] == b[name] for name in set(a) & set(b)),
        "differ": sorted(name for name in set(a) & set(b) if a[name] != b[name]),
        "only_first": sorted(set(a) - set(b)),
        "only_second": sorted(set(b) - set(a)),
    }
    print(json.dumps(report, indent=1))
    sys.exit(1 if report["differ"] or report["only_first"] or report["only_second"] else 0)


if __name__ == "__main__":
    main()
