import copy

import pytest

from hybridbatch.config import check, datasets_in_use, domain_study, experiments, load_yaml, overlaid, resolve_mirror, training_runs
from hybridbatch.core.errors import ConfigError
from hybridbatch.data.registry import DATASETS

from conftest import REPOSITORY

KNOWN_SOURCES = ", ".join(sorted(DATASETS))
KNOWN_LANGUAGES = ", ".join(sorted({lang for spec in DATASETS.values() for lang in spec.languages}))


def changed(config, change):
    config = copy.deepcopy(config)
    change(config)
    return config


def problems(config, schema):
    with pytest.raises(ConfigError) as caught:
        check(config, schema)
    return [line.strip() for line in str(caught.value).splitlines()[1:]]


def test_default_config_is_valid(default_config, schema):
    check(default_config, schema)
    assert datasets_in_use(default_config) == ["mlqa_r", "ntrex", "xquad_r"]
    assert [(e.benchmark, e.train_sources, e.trains) for e in experiments(default_config)] == [
        ("xquad_r", ("mlqa_r", "ntrex"), True),
        ("mlqa_r", (), False),
    ]


def test_study_overlay_trains_both_experiments(default_config, schema):
    study = overlaid(default_config, load_yaml(REPOSITORY / "config" / "study.yaml"))
    check(study, schema)
    assert [(e.name, e.train_sources) for e in experiments(study)] == [("xquad_r", ("mlqa_r", "ntrex")), ("mlqa_r", ("xquad_r", "ntrex"))]
    assert len(study["training"]["seeds"]) >= 3


def test_an_experiment_named_base_is_refused(default_config, schema):
    config = changed(default_config, lambda c: c["experiments"].update(base={"train_sources": ["ntrex"], "benchmark": "xquad_r"}))
    assert any(line.startswith("experiments") and "base" in line for line in problems(config, schema))


def test_test_overlay_is_valid(default_config, schema):
    overlay = load_yaml(REPOSITORY / "config" / "test.yaml")
    merged = changed(default_config, lambda c: c["data"].update(overlay["data"]))
    check(merged, schema)
    assert len(merged["data"]["languages"]) == 3
    # The workflow tests run in fp32 wherever they run, a GPU included.
    assert overlay["encode"]["precision"] == overlay["training"]["precision"] == "fp32"


def test_unknown_key(default_config, schema):
    config = changed(default_config, lambda c: c["data"].update(langauges=["en"]))
    assert problems(config, schema) == ["data: unknown key(s) 'langauges' (allowed: languages, max_overlap, max_questions)"]


def test_a_misspelt_source_weight_is_named(default_config, schema):
    config = changed(default_config, lambda c: c["training"].update(source_weights={"ntrx": 0.25}))
    assert problems(config, schema) == [f"training.source_weights.ntrx: unknown training source 'ntrx' (known: {KNOWN_SOURCES})"]


def test_wrong_type(default_config, schema):
    config = changed(default_config, lambda c: c["data"].update(max_questions="40"))
    assert problems(config, schema) == ["data.max_questions: expected integer or null, got '40'"]


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval(default_config, schema, alpha):
    config = changed(default_config, lambda c: c["strategies"]["hybrid"].update(alpha=alpha))
    assert problems(config, schema) == [f"strategies.hybrid.alpha: {alpha} is outside [0, 1]"]


def test_unknown_dataset_and_language(default_config, schema):
    def change(config):
        config["experiments"]["xquad_r"]["train_sources"] = ["mlqa_r", "mmarco"]
        config["data"]["languages"] = ["en", "kl"]

    assert problems(changed(default_config, change), schema) == [
        f"data.languages[1]: unknown language 'kl' (known: {KNOWN_LANGUAGES})",
        (
            f"experiments.xquad_r.train_sources[1]: unknown training source 'mmarco' (known: {KNOWN_SOURCES}) "
            "(built-in data sets and `sources:`; data sets are defined in src/hybridbatch/data/registry.py)"
        ),
    ]


def test_leak_guard_refuses_training_on_the_benchmark(default_config, schema):
    config = changed(default_config, lambda c: c["experiments"]["mlqa_r"].update(train_sources=["ntrex", "mlqa_r"]))
    (problem,) = problems(config, schema)
    assert problem.startswith("experiments.mlqa_r.train_sources[1]: training source 'mlqa_r' shares its text (mlqa)")


def test_experiment_named_freely_with_a_benchmark(default_config, schema):
    config = changed(
        default_config,
        lambda c: c["experiments"].update(news_only={"benchmark": "xquad_r", "train_sources": ["ntrex"]}),
    )
    check(config, schema)
    leaky = changed(config, lambda c: c["experiments"]["news_only"].update(train_sources=["xquad_r"]))
    assert "shares its text (squad)" in problems(leaky, schema)[0]
    unnamed = changed(default_config, lambda c: c["experiments"].update(news_only={"train_sources": ["ntrex"]}))
    assert "name the benchmark with `benchmark:`" in problems(unnamed, schema)[0]


def test_every_problem_is_reported(default_config, schema):
    def change(config):
        config["surprise"] = 1
        config["strategies"]["x-y"]["alpha"] = 2
        del config["mirror"]

    assert len(problems(changed(default_config, change), schema)) == 3


def test_mirror_is_resolved_from_the_repository(default_config, tmp_path):
    assert resolve_mirror(default_config, tmp_path / "repo") == (tmp_path / "shared" / "data").resolve()
    assert resolve_mirror({"mirror": None}, tmp_path) is None


def test_training_runs_name_one_model_per_strategy_and_seed(default_config):
    config = changed(default_config, lambda c: c["training"].update(seeds=[3, 7]))
    runs = {run.name: (run.strategy, run.alpha, run.seed) for run in training_runs(config)}
    assert runs == {
        "x-x": ("x-x", 1.0, 3),
        "x-x.seed7": ("x-x", 1.0, 7),
        "x-y": ("x-y", 0.0, 3),
        "x-y.seed7": ("x-y", 0.0, 7),
        "hybrid": ("hybrid", 0.5, 3),
        "hybrid.seed7": ("hybrid", 0.5, 7),
    }


def merged_overlay(default_config, name):
    """config/config.yaml with an overlay merged over it, as `--configfile` does."""
    from snakemake.utils import update_config

    config = copy.deepcopy(default_config)
    update_config(config, load_yaml(REPOSITORY / "config" / name))
    return config


def test_paper_overlay_is_the_paper_setup(default_config, schema):
    from hybridbatch.config import loaded_sources_in_use

    config = merged_overlay(default_config, "paper.yaml")
    check(config, schema)
    training = config["training"]
    assert (training["batch_size"], training["learning_rate"], training["weight_decay"]) == (100, 3e-5, 0.01)
    assert training["gpus"] >= 1 and config["encode"]["gpus"] == 1
    found = {e.name: (e.benchmark, e.base_model, e.base_dir) for e in experiments(config)}
    assert list(found) == ["xquad_r", "mlqa_r", "xquad_r_xlmr", "mlqa_r_xlmr"]
    assert found["xquad_r"] == ("xquad_r", "sentence-transformers/LaBSE", "base")
    assert found["mlqa_r_xlmr"] == ("mlqa_r", "xlm-roberta-base", "mlqa_r_xlmr/base")
    assert loaded_sources_in_use(config) == ["mmarco"]
    assert "mmarco" not in datasets_in_use(config)


def with_source(config, name, **changes):
    source = {"path": "parquet", "origin": "toy", "languages": {"en": {"data_files": "en.parquet"}}, "columns": {"query": "q", "positive": "p"}, **changes}
    config["sources"][name] = source
    if name not in config["experiments"]["xquad_r"]["train_sources"]:
        config["experiments"]["xquad_r"]["train_sources"].append(name)


def test_loaded_sources_are_checked_like_data_sets(default_config, schema):
    config = changed(default_config, lambda c: with_source(c, "squad_tr", origin="squad"))
    assert problems(config, schema) == [
        (
            "experiments.xquad_r.train_sources[2]: training source 'squad_tr' shares its text (squad) with the "
            "benchmark 'xquad_r'; a zero-shot evaluation must never train on its benchmark's data"
        )
    ]
    config = changed(default_config, lambda c: with_source(c, "ntrex", languages={"xx": {"name": "x"}}))
    assert problems(config, schema) == [
        "sources.ntrex: the name of a built-in data set; choose another",
        f"sources.ntrex.languages.xx: unknown language 'xx' (known: {KNOWN_LANGUAGES})",
    ]
    config = changed(default_config, lambda c: with_source(c, "toy", colums={}))
    assert problems(config, schema) == [
        "sources.toy: unknown key(s) 'colums' (allowed: columns, id_triples, languages, max_rows, origin, path, revision, split, streaming, trust_remote_code)"
    ]
    config = changed(default_config, lambda c: with_source(c, "toy", streaming=True, languages={"en": {}}))
    assert problems(config, schema) == [
        "sources.toy: missing key(s) 'max_rows'",
        "sources.toy.languages.en: {} should be non-empty",
    ]


def test_a_language_selection_that_empties_a_benchmark_is_refused(default_config, schema):
    # Greek is in XQuAD-R and NTREX but in no MLQA-R file: the mlqa_r benchmark and the mlqa_r
    # training source of the xquad_r experiment would be empty, XQuAD-R monolingual only, and Greek
    # is no training language (the default mlqa_r experiment trains nothing).
    config = changed(default_config, lambda c: c["data"].update(languages=["el"]))
    assert problems(config, schema) == [
        (
            "data.languages: ['el'] leaves the benchmark 'xquad_r' of experiment xquad_r with only el, so it has no "
            "cross-lingual setting (it has ar, de, el, en, es, hi, ru, th, tr, vi, zh)"
        ),
        (
            "data.languages and training.languages: the training source 'mlqa_r' of experiment xquad_r is left without "
            "any language (it offers none of data.languages; training.languages: ['ar', 'de', 'en', 'es', 'hi', 'ru', 'th', 'tr', 'zh'])"
        ),
        (
            "data.languages and training.languages: the training source 'ntrex' of experiment xquad_r is left without "
            "any language (it offers el; training.languages: ['ar', 'de', 'en', 'es', 'hi', 'ru', 'th', 'tr', 'zh'])"
        ),
        ("data.languages: ['el'] leaves the benchmark 'mlqa_r' of experiment mlqa_r without any of its languages (it has ar, de, en, es, hi, vi, zh)"),
    ]


def test_one_training_language_leaves_cross_lingual_strategies_nothing(default_config, schema):
    config = changed(default_config, lambda c: c["training"].update(languages=["en"]))
    assert problems(config, schema) == [
        f"training.languages: every training source of experiment {name} is left with one language, so the "
        "strategies with alpha < 1 have no cross-lingual batch to train on; train on two languages or more"
        for name in ("xquad_r",)  # mlqa_r trains nothing by default
    ]
    only_monolingual = changed(config, lambda c: c.update(strategies={"x-x": {"alpha": 1.0}}))
    check(only_monolingual, schema)
    one_language = changed(only_monolingual, lambda c: c["data"].update(languages=["en"]))
    assert problems(one_language, schema) == [
        f"data.languages: ['en'] leaves the benchmark '{name}' of experiment {name} with only en, so it has no "
        f"cross-lingual setting (it has {', '.join(DATASETS[name].languages)})"
        for name in ("xquad_r", "mlqa_r")
    ]


def test_a_malformed_overlay_is_named_with_line_and_column(tmp_path, capsys):
    from hybridbatch.config import load_overlays, main

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training:\n  steps: [1\n")
    with pytest.raises(ConfigError, match=rf'^{overlay}: not valid YAML: .*\n  in "{overlay}", line 2, column 10'):
        load_overlays([REPOSITORY / "config" / "config.yaml", overlay])
    assert main([str(overlay)]) == 1 and f"{overlay}: not valid YAML" in capsys.readouterr().err
    listing = tmp_path / "list.yaml"
    listing.write_text("- steps\n")
    assert main([str(listing)]) == 1
    assert capsys.readouterr().err.strip() == f"{listing}: expected a mapping of configuration keys, got list"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("strategies:\n  hybrid:\n    alpha: 1.5\n")
    assert main([str(wrong)]) == 1 and "strategies.hybrid.alpha: 1.5 is outside [0, 1]" in capsys.readouterr().err
    assert main([str(REPOSITORY / "config" / "test.yaml")]) == 0


def test_domain_overlay_compares_the_general_models_with_domain_fine_tuning(default_config, schema):
    config = merged_overlay(default_config, "domains.yaml")
    check(config, schema)
    study = domain_study(config)
    assert set(study.benchmarks) == {"scientific", "news", "conversational"} and study.general == "general"
    found = {e.name: (e.train_sources, e.strategies) for e in experiments(config) if e.name in study.models}
    assert found == {
        "general": (("mlqa_r",), ("x-x", "x-y", "hybrid")),
        "scientific": (("tico19_scientific_train",), ("hybrid",)),
        "news": (("ntrex_news_train",), ("hybrid",)),
    }
    # The general models never see news or domain text.
    assert all(DATASETS[source].origin in ("mlqa", "squad") for source in found["general"][0])
    assert set(study.all_benchmarks) <= set(datasets_in_use(config))
    assert domain_study(default_config) is None


def test_context_overlay_compares_general_text_with_domain_text_in_one_task_form(default_config, schema):
    config = merged_overlay(default_config, "domains_context.yaml")
    check(config, schema)
    study = domain_study(config)
    assert (study.name, study.task, study.general) == ("domains_context", "context retrieval", "general_neighbours")
    assert set(study.benchmarks) == {"scientific", "news", "scientific_in_both_pools", "news_in_both_pools", "encyclopedic_covid"}
    assert all(DATASETS[name].context_retrieval for name in study.all_benchmarks)
    found = {e.name: (e.train_sources, e.strategies) for e in experiments(config) if e.name in study.models}
    # Every trained model is a hybrid; general versus domain differs in the training text.
    assert {strategies for _, strategies in found.values()} == {("hybrid",)}
    assert found["general_neighbours"][0] == ("xquad_r_neighbours",) and DATASETS["xquad_r_neighbours"].origin == "squad"
    assert config["report"]["protocol"]["version"] == 3 and config["report"]["protocol"]["domain_ceiling"] == 0.9
    assert config["training"]["seeds"] == [0, 1]


def test_protocol_version_3_needs_its_ceiling_and_version_2_has_none(default_config, schema):
    config = merged_overlay(default_config, "domains_context.yaml")
    del config["report"]["protocol"]["domain_ceiling"]
    assert problems(config, schema) == ["report.protocol.version: 3 needs domain_ceiling (version 3 added it; docs/protocol.md)"]
    config = merged_overlay(default_config, "domains.yaml")
    config["report"]["protocol"]["domain_ceiling"] = 0.9
    assert problems(config, schema) == ["report.protocol.version: 2 has no domain_ceiling (version 3 added it; docs/protocol.md)"]


def test_a_domain_the_data_does_not_have_is_named(default_config, schema):
    config = merged_overlay(default_config, "domains.yaml")
    config["domains"]["benchmarks"]["legal"] = ["tico19_legal"]
    config["domains"]["models"].append("mlqa_r")  # trains nothing in the default
    config["domains"]["general"] = "wikipedia"
    config["experiments"]["news"]["strategies"] = ["hybrid", "mixed"]
    assert problems(config, schema) == [
        "experiments.news.strategies[1]: unknown strategy 'mixed' (known: hybrid, x-x, x-y)",
        f"domains.benchmarks.legal[0]: unknown data set 'tico19_legal' (known: {KNOWN_SOURCES}); data sets are defined in src/hybridbatch/data/registry.py",
        "domains.models[3]: unknown training experiment 'mlqa_r' (known: general, news, scientific, xquad_r)",
        "domains.general: 'wikipedia' is not one of domains.models (general, scientific, news, mlqa_r)",
    ]


def test_a_domain_benchmark_left_without_its_languages_is_refused(default_config, schema):
    config = merged_overlay(default_config, "domains.yaml")
    config["domains"]["benchmarks"]["conversational"].append("tatoeba_th")
    assert problems(config, schema) == [
        (
            "data.languages: ['ar', 'en', 'es', 'ru', 'zh'] leaves the benchmark 'tatoeba_th' of domain conversational with only en, "
            "so it has no cross-lingual setting (it has en, th)"
        )
    ]


def test_a_compared_model_trained_on_a_domain_benchmark_s_text_is_refused(default_config, schema):
    # NTREX's news sentences are the news domain's test documents: the general model must not see them.
    config = merged_overlay(default_config, "domains.yaml")
    config["experiments"]["general"]["train_sources"] = ["mlqa_r", "ntrex"]
    assert problems(config, schema) == [
        (
            "experiments.general.train_sources: training source 'ntrex' shares its text (wmt19-news) with the domain "
            "benchmark 'ntrex_news'; every domain is evaluated zero-shot"
        )
    ]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c["training"].update(source_weights={"ntrex": float("inf")}), "training.source_weights.ntrex: inf is not a finite number"),
        (lambda c: c["strategies"]["hybrid"].update(alpha=float("nan")), "strategies.hybrid.alpha: nan is not a finite number"),
        (lambda c: c["training"].update(learning_rate=float("inf")), "training.learning_rate: inf is not a finite number"),
        (lambda c: c["report"]["protocol"].update(margin=float("nan")), "report.protocol.margin: nan is not a finite number"),
        (lambda c: c["data"].update(max_overlap=float("nan")), "data.max_overlap: nan is not a finite number"),
    ],
)
def test_a_number_that_is_not_finite_is_named(default_config, schema, change, expected):
    assert problems(changed(default_config, change), schema) == [expected]


def test_seeds_and_counts_are_integers(default_config, schema):
    config = changed(default_config, lambda c: c["training"].update(seeds=[0, 1.0], steps=40.0))
    assert problems(config, schema) == ["training.seeds[1]: expected integer, got 1.0 (write 1)", "training.steps: expected integer, got 40.0 (write 40)"]


@pytest.mark.parametrize("text, written", [("3e-5", "3.0e-5"), ("1E5", "1.0e+5"), ("-2.5e3", "-2.5e+3")])
def test_a_number_yaml_reads_as_text_says_how_to_write_it(default_config, schema, text, written):
    config = changed(default_config, lambda c: c["training"].update(learning_rate=text))
    assert problems(config, schema) == [f"training.learning_rate: expected number, got '{text}' (YAML reads {text} as text: write {written})"]
    assert load_yaml_text(f"x: {written}")["x"] == float(text)


def load_yaml_text(text):
    import yaml

    return yaml.safe_load(text)


@pytest.mark.parametrize("key, name", [("experiments", "base"), ("strategies", "validation")])
def test_a_reserved_name_is_said_to_be_reserved(default_config, schema, key, name):
    entry = {"train_sources": [], "benchmark": "xquad_r"} if key == "experiments" else {"alpha": 0.5}
    config = changed(default_config, lambda c: c[key].update({name: entry}))
    (problem,) = problems(config, schema)
    assert problem.startswith(f"{key}.{name}: the name {name!r} is reserved (") and problem.endswith("); choose another")


def test_a_type_error_and_an_unknown_language_are_both_reported(default_config, schema):
    def change(config):
        config["training"]["batch_size"] = "x"
        config["training"]["languages"] = ["de", "xx"]

    assert problems(changed(default_config, change), schema) == [
        "training.batch_size: expected integer, got 'x'",
        f"training.languages[1]: unknown language 'xx' (known: {KNOWN_LANGUAGES})",
    ]


def test_an_unknown_data_set_says_where_data_sets_are_defined(default_config, schema):
    config = changed(default_config, lambda c: c["experiments"].update(mine={"train_sources": []}))
    (problem,) = problems(config, schema)
    assert problem.endswith("name the benchmark with `benchmark:`; data sets are defined in src/hybridbatch/data/registry.py")
    assert (REPOSITORY / "src" / "hybridbatch" / "data" / "registry.py").is_file()


def test_the_config_checker_gives_usage(capsys):
    from hybridbatch.config import main

    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m hybridbatch.config [OVERLAY.yaml ...]")


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda c: c["experiments"]["general"].update(strategies=["x-x", "x-y"]),
            "experiments.general.strategies: x-x, x-y holds no hybrid strategy (0 < alpha < 1), but every difference starts from its hybrid",
        ),
        (
            lambda c: c["experiments"]["news"].update(strategies=["x-y"]),
            "experiments.news.strategies: x-y holds no hybrid strategy (0 < alpha < 1), but it is compared with the general hybrid on news",
        ),
        (
            lambda c: c["experiments"]["general"].update(train_sources=["mlqa_r", "tico19_scientific_train"]),
            (
                "experiments.general.train_sources[1]: 'tico19_scientific_train' is the training source of the scientific model; "
                "the general models train on general data only"
            ),
        ),
        (
            lambda c: (c["experiments"]["general"].update(train_sources=["mlqa_r", "ntrex_news_train"]), c["domains"]["models"].remove("news")),
            "experiments.general.train_sources[1]: 'ntrex_news_train' is a domain's training split; the general models train on general data only",
        ),
    ],
)
def test_a_domain_study_that_cannot_answer_is_refused_at_start(default_config, schema, change, expected):
    config = merged_overlay(default_config, "domains.yaml")
    change(config)
    assert problems(config, schema) == [expected]


def test_a_source_weighted_out_of_every_batch_is_warned_about(default_config, schema):
    from hybridbatch.config import warnings

    assert warnings(default_config) == []
    config = changed(default_config, lambda c: c["training"].update(source_weights={"ntrex": 0.0001}))
    check(config, schema)
    assert warnings(config) == [
        (
            "experiments.xquad_r: training source 'ntrex' gets no batch of the 40 training.steps (training.source_weights.ntrex: 0.0001); "
            "raise its weight or drop it from train_sources"
        )
    ]


def test_a_resource_naming_an_unset_variable_is_named():
    from hybridbatch.config import unset_variables

    resources = {"default-resources.slurm_partition": "$PART", "set-resources.train.slurm_account": "x${ACCOUNT}y", "default-resources.mem_mb": 4000}
    assert unset_variables(resources, {"PART": "cpu", "ACCOUNT": "me"}) == []
    assert unset_variables(resources, {"PART": "cpu"}) == [
        "environment variable ACCOUNT is not set (used by set-resources.train.slurm_account); export it before running snakemake"
    ]
    assert unset_variables(resources, {}) == [
        "environment variable PART is not set (used by default-resources.slurm_partition); export it before running snakemake",
        "environment variable ACCOUNT is not set (used by set-resources.train.slurm_account); export it before running snakemake",
    ]
