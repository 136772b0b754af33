"""The settings of a training run, and which keys of the config's `training:` section a train job
reads. No torch here: the workflow reads the key list while it parses the Snakefile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hybridbatch.core.errors import ConfigError
from hybridbatch.core.settings import settings_from
from hybridbatch.models.settings import EncodeSettings


@dataclass(frozen=True)
class ValidationSchedule:
    """When the held-out slice is scored (`training.validation`; its `groups` shapes the slice,
    made before training, so the trainer does not read it)."""

    every: int = 20
    patience: int = 0  # scores without a gain before stopping; 0 = never stop early


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
    # Encode a batch's texts in length-grouped padded chunks (the same loss and gradients as one
    # tensor padded to the longest text, less padding); False: one padded tensor.
    length_chunks: bool = False
    precision: str = "auto"
    checkpoint_every: int = 50
    # Time each step's phases into the log (hybridbatch.training.loop.PROFILE_COLUMNS); on a GPU
    # each phase then waits for the device, so profiling slows what it measures a little.
    profile: bool = False
    seed: int = 0  # a run's seed: from the run, not the config section
    validation: ValidationSchedule = field(default_factory=ValidationSchedule)

    def encoding(self) -> EncodeSettings:
        """How the model embeds texts while it trains (the held-out slice): the training's text
        lengths and precision, the default batches."""
        return EncodeSettings(query_max_length=self.query_max_length, passage_max_length=self.passage_max_length, precision=self.precision)

    @classmethod
    def from_plain(cls, values: Mapping[str, Any]) -> TrainSettings:
        """The settings from their plain form (`dataclasses.asdict`, as a job file holds them)."""
        return cls(**{**values, "validation": ValidationSchedule(**values["validation"])})


_FROM_THE_RUN = ("seed",)
_VALIDATION_KEYS = tuple(schedule.name for schedule in fields(ValidationSchedule))


def train_job_section(training: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the config's `training:` section a train job reads: the settings, the training
    languages and the validation schedule; nothing else, so that other keys rerun no trained model."""
    chosen = {setting.name: training[setting.name] for setting in fields(TrainSettings) if setting.name not in (*_FROM_THE_RUN, "validation")}
    return {**chosen, "languages": training["languages"], "validation": {key: training["validation"][key] for key in _VALIDATION_KEYS}}


def train_settings(section: Mapping[str, Any], seed: int) -> tuple[TrainSettings, list[str] | None]:
    """The settings and training languages of a run from its `train_job_section`: a key the
    trainer does not read is refused by name, and so is a missing one."""
    values = dict(section)
    for key in ("languages", "validation"):
        if key not in values:
            raise ConfigError(f"training: {key} is missing")
    if from_the_run := sorted(set(values) & set(_FROM_THE_RUN)):
        raise ConfigError(f"training: {', '.join(map(repr, from_the_run))} cannot be set here (the run's own)")
    languages = values.pop("languages")
    validation = settings_from(ValidationSchedule, values.pop("validation"), "training.validation", complete=True)
    return settings_from(TrainSettings, values, "training", complete=True, seed=seed, validation=validation), languages
