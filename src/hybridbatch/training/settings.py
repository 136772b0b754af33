"""The settings of a training run, and which keys of the config's `training:` section a train job
reads. No torch here: the workflow reads the key list while it parses the Snakefile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hybridbatch.core.errors import ConfigError
from hybridbatch.core.settings import settings_from

# The validation schedule the trainer reads (`groups` shapes the held-out slice, made before).
VALIDATION_KEYS = ("every", "patience")


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    temperature: float = 0.05
    max_grad_norm: float = 1.0
    hard_negatives: int = 0
    query_max_length: int = 64
    passage_max_length: int = 128
    freeze_embeddings: bool = True
    precision: str = "auto"
    checkpoint_every: int = 50
    seed: int = 0  # a run's seed: from the run, not the config section
    validation_every: int = 20  # training.validation.every
    patience: int = 0  # training.validation.patience: scores without a gain before stopping; 0 = never stop early


_NOT_TOP_LEVEL = ("seed", "validation_every", "patience")


def train_job_section(training: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the config's `training:` section a train job reads: the settings, the training
    languages and the validation schedule; nothing else, so that other keys rerun no trained model."""
    chosen = {field.name: training[field.name] for field in fields(TrainSettings) if field.name not in _NOT_TOP_LEVEL}
    return {**chosen, "languages": training["languages"], "validation": {key: training["validation"][key] for key in VALIDATION_KEYS}}


def train_settings(section: Mapping[str, Any], seed: int) -> tuple[TrainSettings, list[str] | None]:
    """The settings and training languages of a run from its `train_job_section`: a key the
    trainer does not read is refused by name, and so is a missing one."""
    values = dict(section)
    for key in ("languages", "validation"):
        if key not in values:
            raise ConfigError(f"training: {key} is missing")
    languages, validation = values.pop("languages"), dict(values.pop("validation"))
    if unknown := sorted(set(validation) - set(VALIDATION_KEYS)):
        raise ConfigError(f"training.validation: the trainer reads no setting named {', '.join(map(repr, unknown))}")
    if missing := [key for key in VALIDATION_KEYS if key not in validation]:
        raise ConfigError(f"training.validation: {', '.join(missing)} missing")
    if derived := sorted(set(values) & set(_NOT_TOP_LEVEL)):
        raise ConfigError(f"training: {', '.join(map(repr, derived))} cannot be set here (the run's seed; validation.every, validation.patience)")
    schedule = {"validation_every": validation["every"], "patience": validation["patience"]}
    return settings_from(TrainSettings, values, "training", seed=seed, **schedule), languages
