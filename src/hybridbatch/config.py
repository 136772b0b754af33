"""Check the workflow configuration: the schema's shape first, then names and the leak guard.

Every problem becomes one line naming the key at fault; all lines are reported together.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hybridbatch.core import runs
from hybridbatch.core.contract import MULTI, RANK_DISTANCE
from hybridbatch.core.errors import ConfigError
from hybridbatch.core.runs import HYBRID, Run, role_of
from hybridbatch.data.formats.idtriples import COLUMNS as ID_TRIPLE_COLUMNS
from hybridbatch.data.registry import DATASETS
from hybridbatch.results.protocol import version_problem
from hybridbatch.training.manifest import PLAN_KEYS, batch_plan, starved_sources


def load_yaml(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


# JSON Schema counts 1.0 as an integer; a seed or a step count written 1.0 is a slip (the run
# would be named "hybrid.seed1.0"), so integers are Python ints here.
_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)),
)

# Names the workflow gives a meaning of its own, by the key whose entries they would name.
RESERVED = {
    "experiments": "results/models/base is the shared base model",
    "strategies": "'base' names the untrained model and 'validation' the held-out slice",
}


def _yaml_float(text: str) -> str | None:
    """How to write `text` so that YAML 1.1 (PyYAML, Snakemake) reads a number, where it reads text
    that Python would take as one: a mantissa with a dot, an exponent with its sign (3e-5 -> 3.0e-5)."""
    try:
        float(text)
    except ValueError:
        return None
    match = re.fullmatch(r"([-+]?)(\d*)\.?(\d*)[eE]([-+]?)(\d+)", text.strip())
    if not match:
        return None
    sign, whole, fraction, exponent_sign, exponent = match.groups()
    return f"{sign}{whole or 0}.{fraction or 0}e{exponent_sign or '+'}{exponent}"


def _schema_message(error: jsonschema.ValidationError) -> str:
    where = _where(error.absolute_path)
    kind, value, expected = error.validator, error.instance, error.validator_value
    if kind == "not" and isinstance(expected, Mapping) and "enum" in expected:
        # Only propertyNames use `not`: the value is the name of an entry of `where`.
        reason = RESERVED.get(str(error.absolute_path[-1]) if error.absolute_path else "", "")
        return f"{where}.{value}: the name {value!r} is reserved{f' ({reason})' if reason else ''}; choose another"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))
        return f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
    if kind == "required":
        missing = [key for key in expected if key not in value]
        return f"{where}: missing key(s) {', '.join(map(repr, missing))}"
    if kind == "type":
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        hint = ""
        if isinstance(value, str) and "number" in expected and (written := _yaml_float(value)):
            hint = f" (YAML reads {value} as text: write {written})"
        elif isinstance(value, float) and "integer" in expected and value.is_integer():
            hint = f" (write {int(value)})"
        return f"{where}: expected {expected}, got {value!r}{hint}"
    if kind in ("minimum", "maximum"):
        bounds = error.schema
        if "minimum" in bounds and "maximum" in bounds:
            return f"{where}: {value!r} is outside [{bounds['minimum']}, {bounds['maximum']}]"
        return f"{where}: {value!r} must be {'>=' if kind == 'minimum' else '<='} {expected}"
    return f"{where}: {error.message}"


@dataclass(frozen=True)
class Experiment:
    name: str
    benchmark: str
    train_sources: tuple[str, ...]
    base_model: str  # the initial encoder: the experiment's `model`, else model.base
    # Its folder under results/models/: the shared "base" for model.base, else "{name}/base", so
    # that experiments can compare encoders in one run.
    base_dir: str
    # The strategies trained here: the experiment's `strategies`, else every configured one.
    strategies: tuple[str, ...] = ()

    @property
    def trains(self) -> bool:
        """Whether the strategies are trained here; without train_sources only the base model is evaluated."""
        return bool(self.train_sources)


def experiments(config: Mapping[str, Any]) -> list[Experiment]:
    default = config["model"]["base"]
    found = []
    for name, entry in config["experiments"].items():
        model = entry.get("model", default)
        base_dir = "base" if model == default else f"{name}/base"
        strategies = tuple(entry.get("strategies", config["strategies"]))
        found.append(Experiment(name, entry.get("benchmark", name), tuple(entry["train_sources"]), model, base_dir, strategies))
    return found


@dataclass(frozen=True)
class DomainStudy:
    """The domain study (config `domains:`): each domain's test benchmarks, the experiments whose
    models are compared on all of them, and the one trained on general data, whose hybrid every
    pre-stated difference starts from. An experiment named after a domain is that domain's
    fine-tuned model (in-domain there, out-of-domain elsewhere)."""

    benchmarks: Mapping[str, tuple[str, ...]]
    models: tuple[str, ...]
    general: str
    # Its outputs' name (results/tables/{name}.*, results/figures/{name}.png) and the task its
    # benchmarks pose, in the table's title: two views of the study can share a working directory.
    name: str = "domains"
    task: str = "translation retrieval"

    @property
    def all_benchmarks(self) -> list[str]:
        return list(dict.fromkeys(name for names in self.benchmarks.values() for name in names))


def domain_study(config: Mapping[str, Any]) -> DomainStudy | None:
    """The configured domain study, or None where `domains:` is absent or null."""
    entry = config.get("domains")
    if not entry:
        return None
    benchmarks = {domain: tuple(names) for domain, names in entry["benchmarks"].items()}
    named = {key: entry[key] for key in ("name", "task") if key in entry}
    return DomainStudy(benchmarks, tuple(entry["models"]), entry["general"], **named)


def training_runs(config: Mapping[str, Any]) -> list[Run]:
    """The trained models of every experiment: each strategy at each seed (hybridbatch.core.runs)."""
    return runs.training_runs(config["strategies"], config["training"]["seeds"])


# Said with an unknown data set: until data sets can be declared in the config, they are code.
DATASETS_DEFINED = "data sets are defined in src/hybridbatch/data/registry.py"


def _known(kind: str, name: str, known: list[str]) -> str | None:
    if name in known:
        return None
    return f"unknown {kind} {name!r} (known: {', '.join(known)})"


def _id_triples_problems(where: str, source: Mapping[str, Any]) -> list[str]:
    """A source read from id triples: only the keys that apply, per-language file names, its columns."""
    problems = []
    if source.get("max_rows") is None:
        # Every triple would be held in memory with its texts, in every language: tens of GB for mMARCO.
        problems.append(f"{where}.max_rows: id_triples reads the first max_rows triples; set it")
    for key in ("split", "streaming", "revision", "trust_remote_code"):
        if key in source:
            problems.append(
                f"{where}.{key}: a load_dataset setting, unused with id_triples (files are streamed; a hub "
                "revision goes into the path: hf://datasets/<owner>/<name>@<revision>)"
            )
    for key in ("queries", "collection"):
        template = source["id_triples"][key]
        for lang, fields in source["languages"].items():
            try:
                template.format(**fields)
            except (KeyError, IndexError, ValueError, AttributeError) as error:
                problems.append(f"{where}.id_triples.{key}: {template!r} cannot be filled from languages.{lang} ({fields}): {error!r}")
        if len(source["languages"]) > 1 and "{" not in template:
            problems.append(f"{where}.id_triples.{key}: one file for every language; name the language's field in it, e.g. {{name}}")
    for column, value in source["columns"].items():
        if column == "group_id" and value is not None:
            problems.append(f"{where}.columns.group_id: id triples are row-aligned across languages; leave it null")
        elif value is not None and value not in ID_TRIPLE_COLUMNS:
            problems.append(f"{where}.columns.{column}: {value!r} is not a column of id triples ({', '.join(ID_TRIPLE_COLUMNS)})")
    return problems


def _semantic_problems(config: Mapping[str, Any]) -> list[str]:
    """What the schema cannot see: names nothing defines, and designs that cannot answer."""
    origins = {**{name: spec.origin for name, spec in DATASETS.items()}, **{name: s["origin"] for name, s in config["sources"].items()}}
    problems = _language_and_source_problems(config) + _protocol_problems(config["report"]["protocol"])
    # A misspelt source would silently keep weight 1.
    for name in config["training"]["source_weights"]:
        if problem := _known("training source", name, sorted(origins)):
            problems.append(f"training.source_weights.{name}: {problem}")
    for experiment in experiments(config):
        problems += _experiment_problems(config, experiment, origins)
    return problems + _domain_problems(config, origins) or _language_problems(config)


def _language_and_source_problems(config: Mapping[str, Any]) -> list[str]:
    """Languages no data set has, and `sources:` entries that clash with a built-in name or say
    what cannot be read."""
    problems = []
    all_languages = sorted({lang for spec in DATASETS.values() for lang in spec.languages})
    for key in ("data", "training"):
        for index, lang in enumerate(config[key]["languages"] or []):
            if problem := _known("language", lang, all_languages):
                problems.append(f"{key}.languages[{index}]: {problem}")
    for name, source in config["sources"].items():
        if name in DATASETS:
            problems.append(f"sources.{name}: the name of a built-in data set; choose another")
        for lang in source["languages"]:
            if problem := _known("language", lang, all_languages):
                problems.append(f"sources.{name}.languages.{lang}: {problem}")
        if "id_triples" in source:
            problems += _id_triples_problems(f"sources.{name}", source)
    return problems


def _protocol_problems(protocol: Mapping[str, Any]) -> list[str]:
    problems = []
    if problem := version_problem(protocol["version"], protocol.get("domain_ceiling")):
        problems.append(f"report.protocol.version: {problem}")
    primary = protocol["domain_primary"]
    if primary["metric"] == RANK_DISTANCE and primary["setting"] != MULTI:
        problems.append(f"report.protocol.domain_primary: {RANK_DISTANCE} is measured in the {MULTI} setting only, not {primary['setting']}")
    return problems


def _experiment_problems(config: Mapping[str, Any], experiment: Experiment, origins: Mapping[str, str]) -> list[str]:
    """An experiment's unknown strategies, benchmark or training sources, and training text shared
    with its benchmark."""
    where, problems = f"experiments.{experiment.name}", []
    for index, strategy in enumerate(config["experiments"][experiment.name].get("strategies", [])):
        if problem := _known("strategy", strategy, sorted(config["strategies"])):
            problems.append(f"{where}.strategies[{index}]: {problem}")
    if problem := _known("data set", experiment.benchmark, sorted(DATASETS)):
        hint = "" if "benchmark" in config["experiments"][experiment.name] else "; name the benchmark with `benchmark:`"
        return [*problems, f"{where}: benchmark: {problem}{hint}; {DATASETS_DEFINED}"]
    benchmark = DATASETS[experiment.benchmark]
    for index, source in enumerate(experiment.train_sources):
        if problem := _known("training source", source, sorted(origins)):
            problems.append(f"{where}.train_sources[{index}]: {problem} (built-in data sets and `sources:`; {DATASETS_DEFINED})")
        elif origins[source] == benchmark.origin:
            problems.append(
                f"{where}.train_sources[{index}]: training source {source!r} shares its text "
                f"({benchmark.origin}) with the benchmark {benchmark.name!r}; a zero-shot evaluation "
                "must never train on its benchmark's data"
            )
    return problems


def _domain_problems(config: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Names in `domains:` that nothing defines, and training text shared with a domain's test text."""
    study = domain_study(config)
    if study is None:
        return []
    problems = []
    for domain, names in study.benchmarks.items():
        for index, name in enumerate(names):
            if problem := _known("data set", name, sorted(DATASETS)):
                problems.append(f"domains.benchmarks.{domain}[{index}]: {problem}; {DATASETS_DEFINED}")
    trained = {experiment.name: experiment for experiment in experiments(config) if experiment.trains}
    for index, name in enumerate(study.models):
        if problem := _known("training experiment", name, sorted(trained)):
            problems.append(f"domains.models[{index}]: {problem}")
    if study.general not in study.models:
        problems.append(f"domains.general: {study.general!r} is not one of domains.models ({', '.join(study.models)})")
    if problems:
        return problems
    problems += _domain_design_problems(config, study, trained)
    for name in study.models:
        for source in trained[name].train_sources:
            for benchmark in study.all_benchmarks:
                if origins.get(source) == DATASETS[benchmark].origin:
                    problems.append(
                        f"experiments.{name}.train_sources: training source {source!r} shares its text "
                        f"({DATASETS[benchmark].origin}) with the domain benchmark {benchmark!r}; every domain is evaluated zero-shot"
                    )
    return problems


def _domain_design_problems(config: Mapping[str, Any], study: DomainStudy, trained: Mapping[str, Experiment]) -> list[str]:
    """Designs that cannot answer the domain question, found before a long run rather than after:
    every difference starts from the general hybrid and ends at each domain's own hybrid, and the
    general models must not have trained on a domain's training text."""
    alphas = {name: float(entry["alpha"]) for name, entry in config["strategies"].items()}
    problems = []
    for name in study.models:
        if name != study.general and name not in study.benchmarks:
            continue
        if not any(role_of(alphas[strategy]) == HYBRID for strategy in trained[name].strategies):
            compared = "every difference starts from its hybrid" if name == study.general else f"it is compared with the general hybrid on {name}"
            problems.append(f"experiments.{name}.strategies: {', '.join(trained[name].strategies)} holds no hybrid strategy (0 < alpha < 1), but {compared}")
    # The domain models' training text, and every training split cut out of a domain benchmark's corpus.
    domain_text = {
        source: f"the training source of the {domain} model"
        for domain in study.benchmarks
        if domain in study.models
        for source in trained[domain].train_sources
    }
    for name, spec in DATASETS.items():
        if spec.view is not None and spec.view.split == "train":
            domain_text.setdefault(name, "a domain's training split")
    for index, source in enumerate(trained[study.general].train_sources):
        if source in domain_text:
            problems.append(
                f"experiments.{study.general}.train_sources[{index}]: {source!r} is {domain_text[source]}; the general models train on general data only"
            )
    return problems


def _chosen(languages: list[str] | None, offered) -> list[str]:
    return sorted(lang for lang in offered if languages is None or lang in languages)


def _benchmark_languages(extracted: list[str] | None, where: str, name: str) -> str | None:
    """data.languages leaving a benchmark with fewer than two languages: no cross-lingual setting."""
    benchmark = DATASETS[name]
    kept = _chosen(extracted, benchmark.languages)
    if len(kept) >= 2:
        return None
    left = f"with only {kept[0]}, so it has no cross-lingual setting" if kept else "without any of its languages"
    return f"data.languages: {extracted} leaves the benchmark {name!r} of {where} {left} (it has {', '.join(benchmark.languages)})"


def _language_problems(config: Mapping[str, Any]) -> list[str]:
    """Language selections that leave a benchmark or a training source with nothing to use."""
    extracted, trained = config["data"]["languages"], config["training"]["languages"]
    cross_lingual = any(float(entry["alpha"]) < 1 for entry in config["strategies"].values())
    problems = []
    for experiment in experiments(config):
        where = f"experiment {experiment.name}"
        if problem := _benchmark_languages(extracted, where, experiment.benchmark):
            problems.append(problem)
        most = 0
        for source in experiment.train_sources:
            if source in DATASETS:
                offered, key = _chosen(extracted, DATASETS[source].languages), "data.languages and training.languages"
            else:
                offered, key = sorted(config["sources"][source]["languages"]), "training.languages"
            usable = _chosen(trained, offered)
            most = max(most, len(usable))
            if not usable:
                problems.append(
                    f"{key}: the training source {source!r} of {where} is left without any language "
                    f"(it offers {', '.join(offered) or 'none of data.languages'}; training.languages: {trained})"
                )
        if cross_lingual and most == 1:
            problems.append(
                f"training.languages: every training source of {where} is left with one language, so the strategies "
                "with alpha < 1 have no cross-lingual batch to train on; train on two languages or more"
            )
    study = domain_study(config)
    for domain, names in study.benchmarks.items() if study else []:
        problems += [problem for name in names if (problem := _benchmark_languages(extracted, f"domain {domain}", name))]
    return problems


def _non_finite(value: Any, path: tuple[Any, ...] = ()) -> list[str]:
    """Every NaN or infinite number in the configuration: YAML reads .nan and .inf as floats, and
    no setting has a meaning for them (an infinite source weight empties the manifest)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_where(path)}: {value} is not a finite number"]
    if isinstance(value, Mapping):
        return [problem for key, item in value.items() for problem in _non_finite(item, (*path, key))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in _non_finite(item, (*path, index))]
    return []


def check(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise ConfigError listing every problem of `config`, one line each."""
    errors = sorted(_VALIDATOR(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = list(dict.fromkeys([*_non_finite(config), *(_schema_message(error) for error in errors)]))
    try:
        problems += _semantic_problems(config)
    except (KeyError, TypeError, AttributeError, ValueError):
        # The name checks read the shape the schema guarantees; where the schema failed they may
        # not get far, and what they would say comes once its lines are mended.
        if not problems:
            raise
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def warnings(config: Mapping[str, Any]) -> list[str]:
    """What a valid configuration does that its author may not mean: a training source whose weight
    is too small for a single batch of training.steps is named in train_sources but never trained on."""
    training = config["training"]
    plan = batch_plan({key: training[key] for key in PLAN_KEYS}, alpha=0.5, seed=0)
    return [
        f"experiments.{experiment.name}: training source {source!r} gets no batch of the {training['steps']} training.steps "
        f"(training.source_weights.{source}: {plan.weight(source)}); raise its weight or drop it from train_sources"
        for experiment in experiments(config)
        if experiment.trains
        for source in starved_sources(experiment.train_sources, plan)
    ]


def unset_variables(resources: Mapping[str, Any], environment: Mapping[str, str]) -> list[str]:
    """One line per environment variable that resource values (where -> value) name but that is not
    set: Snakemake leaves `$NAME` as literal text then, and a SLURM partition or account would reach
    sbatch as such."""
    users: dict[str, list[str]] = {}
    for where, value in resources.items():
        for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", value if isinstance(value, str) else ""):
            if name not in environment:
                users.setdefault(name, []).append(where)
    return [f"environment variable {name} is not set (used by {', '.join(where)}); export it before running snakemake" for name, where in users.items()]


def resolve_mirror(config: Mapping[str, Any], repository_root: str | os.PathLike[str]) -> Path | None:
    """The mirror folder as an absolute path (relative ones are taken from the repository root)."""
    mirror = config["mirror"]
    if mirror is None:
        return None
    return (Path(repository_root) / mirror).resolve()


def datasets_in_use(config: Mapping[str, Any]) -> list[str]:
    """Every built-in data set an experiment evaluates on or trains on, and every domain benchmark."""
    used = set()
    for experiment in experiments(config):
        used.add(experiment.benchmark)
        used.update(experiment.train_sources)
    if study := domain_study(config):
        used.update(study.all_benchmarks)
    return sorted(used & set(DATASETS))


def loaded_sources_in_use(config: Mapping[str, Any]) -> list[str]:
    """Every `sources:` entry (loaded with Hugging Face datasets) an experiment trains on."""
    return sorted({source for e in experiments(config) for source in e.train_sources if source in config["sources"]})


def overlaid(config: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`overlay` merged over `config` key by key, as Snakemake merges --configfile overlays."""
    merged = dict(config)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = overlaid(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_overlays(paths: list[str | os.PathLike[str]]) -> dict[str, Any]:
    """The files merged in order, each checked to be YAML holding a mapping (named if not)."""
    config: dict[str, Any] = {}
    for path in paths:
        overlay = load_yaml(path)
        if not isinstance(overlay, Mapping):
            raise ConfigError(f"{path}: expected a mapping of configuration keys, got {type(overlay).__name__}")
        config = overlaid(config, overlay)
    return config


USAGE = """usage: python -m hybridbatch.config [OVERLAY.yaml ...]

Check config/config.yaml with the overlays merged over it in order, as
`snakemake --configfile OVERLAY.yaml ...` would use it: every problem is one line naming its key
(a YAML error names file, line and column). Exit status 0: valid; 1: not."""


def main(arguments: list[str]) -> int:
    """`python -m hybridbatch.config [OVERLAY ...]`: check the default configuration with the given
    overlays, as `snakemake --configfile OVERLAY ...` would use it. Snakemake reads --configfile
    before the workflow starts and does not name a file it cannot parse; this names file, line and
    column, then checks the merged configuration against the schema."""
    repository = Path(__file__).resolve().parents[2]
    if {"-h", "--help"} & set(arguments):
        print(USAGE)
        return 0
    try:
        config = load_overlays([repository / "config" / "config.yaml", *arguments])
        check(config, load_yaml(repository / "workflow" / "schemas" / "config.schema.yaml"))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"valid: {', '.join(map(str, [repository / 'config' / 'config.yaml', *arguments]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
