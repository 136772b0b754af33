"""Config sections become settings objects that refuse keys nobody reads."""

import dataclasses

import pytest

from hybridbatch.core.errors import ConfigError
from hybridbatch.core.settings import settings_from
from hybridbatch.models.settings import EncodeSettings
from hybridbatch.results.figure_catalog import FigureOptions
from hybridbatch.training.settings import TrainSettings, train_job_section, train_settings

from test_config import merged_overlay


@pytest.mark.parametrize("overlay", [None, "study.yaml", "paper.yaml", "test.yaml", "domains.yaml", "domains_context.yaml"])
def test_every_shipped_config_gives_the_trainer_exactly_what_it_reads(default_config, overlay):
    config = merged_overlay(default_config, overlay) if overlay else default_config
    section = train_job_section(config["training"])
    # Nothing that only shapes the manifests or the jobs' resources reaches the train rule.
    assert not {"batch_size", "steps", "kind_draw", "source_weights", "seeds", "threads", "gpus"} & set(section)
    assert set(section["validation"]) == {"every", "patience"}
    settings, languages = train_settings(section, seed=3)
    assert languages == config["training"]["languages"] and settings.seed == 3
    assert dataclasses.asdict(settings.validation) == section["validation"]
    read = {field.name for field in dataclasses.fields(TrainSettings)} - {"seed", "validation"}
    assert {name: getattr(settings, name) for name in read} == {name: config["training"][name] for name in read}
    assert settings_from(EncodeSettings, {k: v for k, v in config["encode"].items() if k not in ("threads", "gpus")}, "encode")
    assert settings_from(FigureOptions, config["report"]["figures"], "report.figures")


def test_a_key_nobody_reads_is_refused_by_name(default_config):
    section = train_job_section(default_config["training"])
    with pytest.raises(ConfigError, match=r"^training: no setting named 'learning_rat' \(known: "):
        train_settings({**section, "learning_rat": 1e-4}, seed=0)
    with pytest.raises(ConfigError, match=r"^training.validation: no setting named 'groups' \(known: every, patience\)"):
        train_settings({**section, "validation": {"every": 5, "patience": 1, "groups": 4}}, seed=0)
    with pytest.raises(ConfigError, match=r"^training: 'seed' cannot be set here \(the run's own\)"):
        train_settings({**section, "seed": 9}, seed=0)
    with pytest.raises(ConfigError, match=r"^training: no setting named 'patience'"):
        train_settings({**section, "patience": 5}, seed=0)
    with pytest.raises(ConfigError, match=r"^training.validation: patience missing"):
        train_settings({**section, "validation": {"every": 5}}, seed=0)
    with pytest.raises(ConfigError, match=r"^training: temperature missing"):
        train_settings({key: value for key, value in section.items() if key != "temperature"}, seed=0)
    with pytest.raises(ConfigError, match=r"^training: languages is missing"):
        train_settings({key: value for key, value in section.items() if key != "languages"}, seed=0)
    with pytest.raises(ConfigError, match=r"^encode: no setting named 'batch_tokenz'"):
        settings_from(EncodeSettings, {"batch_tokenz": 512}, "encode")
