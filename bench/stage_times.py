"""Wall time of a finished run by stage, from the `benchmark:` files every rule writes, and the
cost of another configuration estimated from it.

    python bench/stage_times.py benchmarks                               # in the run's working directory
    python bench/stage_times.py benchmarks --estimate config/study.yaml  # the study setting's cost

Prints a Markdown table: per rule the number of jobs, their summed wall time (s), the longest job
and its share of the summed time of all jobs. Jobs that ran side by side overlap, so the sum can
exceed the run's elapsed time; on `--cores 2` the heavy rules take both cores and run one at a time.

`--estimate OVERLAY...` scales the measured jobs to the configuration `config/config.yaml` +
overlays would run (the measured run used `--measured` overlays, none by default): rules with one
job per trained model (manifest, train) scale with the number of training runs, train also with
`training.steps`; rules with one job per evaluated model and experiment (embed, evaluate) with
their number; every other rule is counted as measured. Validation is scored every
`validation.every` steps, so its share of a training job scales with the steps as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "src"))

from hybridbatch.config import experiments, load_overlays, training_runs  # noqa: E402

PER_TRAINING_RUN = ("manifest", "train")
PER_EVALUATED_MODEL = ("embed", "evaluate")


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


def _scale(config: dict) -> dict[str, float]:
    runs = sum(experiment.trains for experiment in experiments(config)) * len(training_runs(config))
    return {"runs": runs, "models": runs + len(experiments(config)), "steps": config["training"]["steps"]}


def estimate(measured: pd.DataFrame, measured_config: dict, target_config: dict) -> pd.DataFrame:
    """The measured table scaled to `target_config` (see the module docstring)."""
    before, after = _scale(measured_config), _scale(target_config)
    table = measured.copy()
    for rule in table.index:
        jobs = seconds = 1.0
        if rule in PER_TRAINING_RUN:
            jobs = after["runs"] / before["runs"]
            seconds = jobs * (after["steps"] / before["steps"] if rule == "train" else 1.0)
        elif rule in PER_EVALUATED_MODEL:
            jobs = seconds = after["models"] / before["models"]
        table.loc[rule, "jobs"] = round(table.loc[rule, "jobs"] * jobs)
        table.loc[rule, "seconds"] *= seconds
        table.loc[rule, "longest"] *= seconds / jobs
    table["share"] = table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False)


def print_table(table: pd.DataFrame) -> None:
    total = table["seconds"].sum()
    print("| rule | jobs | wall time, s | longest job, s | share |\n|---|---|---|---|---|")
    for rule, row in table.iterrows():
        print(f"| {rule} | {row.jobs:.0f} | {row.seconds:.0f} | {row.longest:.0f} | {row.share:.1%} |")
    print(f"| all | {table['jobs'].sum():.0f} | {total:.0f} ({total / 3600:.1f} h) | | 100% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", type=Path, help="the run's benchmarks/ folder")
    parser.add_argument("--estimate", nargs="+", metavar="OVERLAY", help="overlays of config/config.yaml to estimate")
    parser.add_argument("--measured", nargs="*", default=[], metavar="OVERLAY", help="overlays the measured run used")
    arguments = parser.parse_args()
    table = stage_times(arguments.benchmarks)
    if arguments.estimate:
        default = REPOSITORY / "config" / "config.yaml"
        table = estimate(table, load_overlays([default, *arguments.measured]), load_overlays([default, *arguments.estimate]))
    print_table(table)


if __name__ == "__main__":
    main()
