"""How often the verdicts are wrong, and how often right, measured by simulation through the
pipeline's own code (hybridbatch.results.verdicts: `compare` on a per-query table, `decide` for the verdict).

    python bench/calibration.py --quick     # 200 runs a design, about a minute on 2 cores
    python bench/calibration.py             # 2,000 runs a design
    python bench/calibration.py --quick --power 1190 48 0.3   # a study's power by seeds

Each run plants a per-query table of two models (a, b) with known truth: questions in clusters,
language pairs, seeds; the difference a - b per (seed, question, pair) is
    truth + seed effect (sd --seed-sd x margin, per seed) + cluster effect + question effect + noise,
the cluster effect holding `icc` of the question-level variance. The protocol (margin, confidence,
resamples) is config/config.yaml's. The estimator is shift-equivariant (planting +t moves the
estimate by t and leaves its standard error alone; tests/test_verdicts.py checks it on a planted
table), so each run's table is drawn once at truth 0 and every truth below reads the same estimate
moved by the truth.

One JSON object per line:
- case: equivalence_null (truth -margin; wrong if *equivalent*: the claims 1-3), superiority_null
  (truth +margin; wrong if *better*: claim 4), superiority_zero (truth 0; wrong if *better*),
  four_way_null (truth -margin and +margin, on the boundary of every region: wrong unless
  *inconclusive*; nominal twice the one-sided level, as either side's error counts: the domain
  study), equivalence_power (truth 0, margin/2; right if
  *equivalent*), superiority_power (truth 2 and 3 x margin; right if *better*);
- truth (in margins), seeds, clusters (0: none, each question its own), icc, seed_sd (in margins),
  runs, rate, mc_se (the binomial standard error of the rate), nominal (a null's level);
- held, for nulls: rate <= nominal + 2 x the Monte Carlo standard error at the nominal level.
The designs are single comparisons of one benchmark on `map`: rank distance differs only in its
sign and relative margin, several benchmarks only in adding components to the pivot, and Holm
only in the level (all checked in tests/test_verdicts.py, not here).
  With one seed the interval covers the texts only (so says every such table): its nulls hold the
  trained models' truth fixed (seed_sd 0). The line `one_seed_unconditional` shows what that leaves
  out: the same null when training randomness varies too (held is null there: not a claim).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hybridbatch.results.protocol import Protocol
from hybridbatch.results.verdicts import BETTER, EQUIVALENCE, EQUIVALENT, FOUR_WAY, SUPERIORITY, WORSE, Comparison, Estimate, Hypothesis, compare, decide

REPOSITORY = Path(__file__).resolve().parents[1]
PAIRS = (("de", "en"), ("en", "de"))


@dataclasses.dataclass(frozen=True)
class Design:
    seeds: int
    clusters: int  # 0: no cluster structure
    icc: float
    seed_sd: float  # in margins
    questions: int = 240
    question_sd: float = 0.05  # sd of a question's difference, all effects but the seed's
    noise_share: float = 0.5  # of that variance, the share that changes with seed and pair


def planted_table(design: Design, margin: float, generator: np.random.Generator) -> pd.DataFrame:
    """A per-query table (the evaluate rule's columns plus strategy and seed) of models a and b
    whose true macro difference is 0 (plus the drawn seed effects)."""
    questions, seeds, pairs = design.questions, design.seeds, len(PAIRS)
    if design.clusters:
        cluster_of = np.repeat(np.arange(design.clusters), -(-questions // design.clusters))[:questions]
    else:
        cluster_of = np.arange(questions)
    fixed = design.question_sd**2 * (1 - design.noise_share)
    cluster_variance = design.icc * design.question_sd**2 if design.clusters else 0.0
    question_variance = max(fixed - cluster_variance, 0.0)
    cluster_effect = generator.normal(0, math.sqrt(cluster_variance), cluster_of.max() + 1)[cluster_of]
    question_effect = generator.normal(0, math.sqrt(question_variance), questions)
    seed_effect = generator.normal(0, design.seed_sd * margin, seeds)
    noise = generator.normal(0, design.question_sd * math.sqrt(design.noise_share), (seeds, questions, pairs))
    difference = seed_effect[:, None, None] + (cluster_effect + question_effect)[None, :, None] + noise
    b_values = 0.6 + generator.normal(0, 0.2, (1, questions, pairs)).repeat(seeds, axis=0)
    seed_index, question_index, pair_index = (axis.ravel() for axis in np.indices(difference.shape))
    common = {
        "seed": seed_index,
        "qid": question_index.astype(str),
        "cluster": cluster_of[question_index].astype(str),
        "query_lang": np.array([PAIRS[i][0] for i in range(pairs)])[pair_index],
        "pool_lang": np.array([PAIRS[i][1] for i in range(pairs)])[pair_index],
        "metric": "map",
    }
    return pd.concat(
        [
            pd.DataFrame(common | {"strategy": "a", "value": (b_values + difference).ravel()}),
            pd.DataFrame(common | {"strategy": "b", "value": b_values.ravel()}),
        ],
        ignore_index=True,
    )


def verdicts_at(result: Estimate, cases, margin: float, alpha: float) -> list[str]:
    """The verdict each case's single pre-registered test gives when the truth is the case's (the
    estimate moved by it), through the pipeline's `decide` (each test alone: none in a family)."""
    comparison = Comparison("sim", "a", "b", "cross", "map")
    tests = [
        Hypothesis(comparison, dataclasses.replace(result, observed=result.observed + truth * margin), hypothesis, margin)
        for _, truth, hypothesis, _, _ in cases
    ]
    return decide(tests, [False] * len(tests), alpha)["verdict"].tolist()


# (case, truth in margins, hypothesis, the verdicts counted, a null's nominal rate in one-sided
# levels: 1, or 2 for a four-way verdict, which either side's error makes wrong; None: power)
CASES = (
    ("equivalence_null", -1.0, EQUIVALENCE, {EQUIVALENT}, 1),
    ("superiority_null", 1.0, SUPERIORITY, {BETTER}, 1),
    ("superiority_zero", 0.0, SUPERIORITY, {BETTER}, 1),
    # At ±margin, on the boundary of every region, any verdict but inconclusive is wrong.
    ("four_way_null", -1.0, FOUR_WAY, {EQUIVALENT, BETTER, WORSE}, 2),
    ("four_way_null", 1.0, FOUR_WAY, {EQUIVALENT, BETTER, WORSE}, 2),
    ("equivalence_power", 0.0, EQUIVALENCE, {EQUIVALENT}, None),
    ("equivalence_power", 0.5, EQUIVALENCE, {EQUIVALENT}, None),
    ("superiority_power", 2.0, SUPERIORITY, {BETTER}, None),
    ("superiority_power", 3.0, SUPERIORITY, {BETTER}, None),
)


def simulate(design: Design, runs: int, protocol: Protocol, seed: int, cases=CASES) -> list[dict]:
    """The rate of each case's counted verdict over `runs` planted tables of `design`."""
    generator = np.random.default_rng([seed, design.seeds, design.clusters, int(design.seed_sd * 1000)])
    counts = np.zeros(len(cases))
    comparison = Comparison("sim", "a", "b", "cross", "map")
    for run in range(runs):
        result = compare(planted_table(design, protocol.margin, generator), comparison, protocol.samples, protocol.seed + run)
        verdicts = verdicts_at(result, cases, protocol.margin, protocol.alpha)
        counts += [verdict in case[3] for verdict, case in zip(verdicts, cases, strict=True)]
    lines = []
    for (case, truth, _, _, sides), count in zip(cases, counts, strict=True):
        rate = count / runs
        nominal = None if sides is None else round(sides * protocol.alpha, 12)
        line = {
            "case": case,
            "truth": truth,
            "seeds": design.seeds,
            "clusters": design.clusters,
            "icc": design.icc,
            "seed_sd": design.seed_sd,
            "runs": runs,
            "rate": rate,
            "mc_se": math.sqrt(rate * (1 - rate) / runs),
            "nominal": nominal,
        }
        if nominal is not None:
            line["held"] = bool(rate <= nominal + 2 * math.sqrt(nominal * (1 - nominal) / runs))
        lines.append(line)
    return lines


def designs(seed_sd: float) -> list[Design]:
    chosen = []
    for seeds in (1, 2, 3, 5):
        for clusters, icc in ((0, 0.0), (24, 0.2)):
            # One seed: the interval is about these trained models; their truth is held fixed.
            chosen.append(Design(seeds, clusters, icc, seed_sd if seeds > 1 else 0.0))
    return chosen


def power_designs(questions: int, clusters: int, question_sd: float) -> list[Design]:
    """A study's designs: its questions and articles, seeds 1, 2, 3, 5 at seed sd 0.25, 0.5, 1 margin."""
    return [Design(seeds, clusters, 0.2 if clusters else 0.0, seed_sd, questions, question_sd) for seed_sd in (0.25, 0.5, 1.0) for seeds in (1, 2, 3, 5)]


def protocol_of(config: Path) -> Protocol:
    return Protocol.from_config(yaml.safe_load(config.read_text())["report"]["protocol"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 runs a design instead of 2,000")
    parser.add_argument("--runs", type=int, help="runs a design (overrides --quick)")
    parser.add_argument("--seed-sd", type=float, default=0.5, help="sd of a seed's effect on the difference, in margins")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=REPOSITORY / "config" / "config.yaml")
    parser.add_argument(
        "--power",
        nargs=3,
        metavar=("QUESTIONS", "CLUSTERS", "QUESTION_SD"),
        help="instead: power of a study with these questions, articles (0: none) and sd of a question's "
        "difference, for seeds 1, 2, 3, 5 and seed sd 0.25, 0.5, 1 margin (with one seed the "
        "training randomness is then part of the truth)",
    )
    args = parser.parse_args(argv)
    runs = args.runs or (200 if args.quick else 2000)
    protocol = protocol_of(args.config)
    started = time.perf_counter()
    if args.power:
        power = [case for case in CASES if case[4] is None]
        for design in power_designs(int(args.power[0]), int(args.power[1]), float(args.power[2])):
            for line in simulate(design, runs, protocol, args.seed, power):
                print(json.dumps(line | {"questions": design.questions, "question_sd": design.question_sd}), flush=True)
        print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        return
    for design in designs(args.seed_sd):
        for line in simulate(design, runs, protocol, args.seed):
            print(json.dumps(line), flush=True)
    unconditional = Design(1, 0, 0.0, args.seed_sd)
    null = [case for case in CASES if case[0] == "equivalence_null"]
    for line in simulate(unconditional, runs, protocol, args.seed, null):
        print(json.dumps(line | {"case": "one_seed_unconditional", "held": None}), flush=True)
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
