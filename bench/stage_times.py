"""Wall time of a finished run by stage, from the `benchmark:` files every rule writes.

    python bench/stage_times.py benchmarks            # in the run's working directory

Prints a Markdown table: per rule the number of jobs, their summed wall time (s), the longest job
and its share of the summed time of all jobs. Jobs that ran side by side overlap, so the sum can
exceed the run's elapsed time; on `--cores 2` the heavy rules take both cores and run one at a time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def stage_times(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        rule = path.relative_to(folder).parts[0].removesuffix(".tsv")
        seconds = pd.read_csv(path, sep="\t")["s"].mean()  # one row per repeat; Snakemake runs one
        rows.append((rule, str(path.relative_to(folder)), seconds))
    jobs = pd.DataFrame(rows, columns=["rule", "job", "seconds"])
    table = jobs.groupby("rule").agg(jobs=("job", "size"), seconds=("seconds", "sum"), longest=("seconds", "max"))
    table["share"] = table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", type=Path, help="the run's benchmarks/ folder")
    table = stage_times(parser.parse_args().benchmarks)
    total = table["seconds"].sum()
    print("| rule | jobs | wall time, s | longest job, s | share |\n|---|---|---|---|---|")
    for rule, row in table.iterrows():
        print(f"| {rule} | {row.jobs:.0f} | {row.seconds:.0f} | {row.longest:.0f} | {row.share:.1%} |")
    print(f"| all | {table['jobs'].sum()} | {total:.0f} | | 100% |")


if __name__ == "__main__":
    main()
