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
`training.steps`; embed and evaluate with the number of models embedded on each data set and
evaluated in each experiment (each at the mean job time measured there, so every data set the
estimate embeds must have been embedded in the measured run); every other rule is counted as
measured. Validation is scored every `validation.every` steps, so its share of a training job
scales with the steps as well. Measure in a fresh working directory: a `benchmarks/` folder that
kept files from runs of an older layout (per-language embed jobs before one per model and data
set) or another configuration would be counted as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "src"))

from hybridbatch.config import experiments, load_overlays, training_runs

PER_TRAINING_RUN = ("manifest", "train")
# One job per evaluated model: embed per data set (benchmarks/embed/{dataset}/...), evaluate per
# experiment (benchmarks/evaluate/{experiment}/...).
PER_EVALUATED_MODEL = ("embed", "evaluate")


def job_times(folder: Path) -> pd.DataFrame:
    """One row per job: `rule`, `place` (the folder below the rule's: a data set or an
    experiment, "" for none), `job` (the file) and `seconds`."""
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        parts = path.relative_to(folder).parts
        seconds = pd.read_csv(path, sep="\t")["s"].mean()  # one row per repeat; Snakemake runs one
        rows.append((parts[0].removesuffix(".tsv"), parts[1] if len(parts) > 2 else "", str(path.relative_to(folder)), seconds))
    return pd.DataFrame(rows, columns=["rule", "place", "job", "seconds"])


def stage_times(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, summed and longest job time, and the share of the summed time of all jobs."""
    table = jobs.groupby("rule").agg(jobs=("job", "size"), seconds=("seconds", "sum"), longest=("seconds", "max"))
    table["share"] = table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False)


def _training_runs(config: dict) -> int:
    """Trained models: every run in every experiment that trains."""
    return sum(experiment.trains for experiment in experiments(config)) * len(training_runs(config))


def _models(config: dict) -> dict[tuple[str, str], int]:
    """(rule, place) -> models evaluated there: per experiment its base model and, where it trains,
    every run; per data set the distinct models embedded on it."""
    runs = len(training_runs(config))
    counts: dict[tuple[str, str], int] = {}
    bases: dict[str, set[str]] = {}
    for experiment in experiments(config):
        trained = runs if experiment.trains else 0
        counts["evaluate", experiment.name] = 1 + trained
        counts["embed", experiment.benchmark] = counts.get(("embed", experiment.benchmark), 0) + trained
        bases.setdefault(experiment.benchmark, set()).add(experiment.base_dir)
    for dataset, dirs in bases.items():
        counts["embed", dataset] += len(dirs)
    return counts


def estimate(jobs: pd.DataFrame, measured_config: dict, target_config: dict) -> pd.DataFrame:
    """`stage_times` of the measured jobs scaled to `target_config` (see the module docstring).
    Embedding and evaluation scale per data set / experiment with the mean job measured there."""
    runs = _training_runs(target_config) / _training_runs(measured_config)
    steps = target_config["training"]["steps"] / measured_config["training"]["steps"]
    before, after = _models(measured_config), _models(target_config)
    scaled = []
    for (rule, place), group in jobs.groupby(["rule", "place"], sort=False):
        if rule in PER_TRAINING_RUN:
            count, factor = runs, steps if rule == "train" else 1.0
        elif rule in PER_EVALUATED_MODEL:
            count, factor = after.get((rule, place), 0) / before[rule, place], 1.0
        else:
            count, factor = 1.0, 1.0
        mean = group["seconds"].mean() * factor
        copies = round(len(group) * count)
        scaled.append(pd.DataFrame({"rule": rule, "place": place, "job": [f"{rule}/{place}/{i}" for i in range(copies)], "seconds": mean}))
    return stage_times(pd.concat(scaled, ignore_index=True))


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
    jobs = job_times(arguments.benchmarks)
    if arguments.estimate:
        default = REPOSITORY / "config" / "config.yaml"
        print_table(estimate(jobs, load_overlays([default, *arguments.measured]), load_overlays([default, *arguments.estimate])))
    else:
        print_table(stage_times(jobs))


if __name__ == "__main__":
    main()
