"""The pre-registered protocol of every verdict (config `report.protocol`; rules and history in
docs/protocol.md). Light enough for the config check at start-up: no statistics imported here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from hybridbatch.core.contract import LOWER_IS_BETTER

# The verdict rule the code implements (hybridbatch.results.verdicts); `report.protocol.version` must name it.
RULE_VERSION = 2


def version_problem(version: int) -> str | None:
    """Why a configured protocol version cannot be run, or None."""
    if version == RULE_VERSION:
        return None
    return f"{version}, but this code implements the verdict rule of version {RULE_VERSION} (docs/protocol.md): a rule change is a new version"


@dataclass(frozen=True)
class Protocol:
    """The numbers every verdict was decided with."""

    version: int
    confidence: float  # of a two-sided interval; each one-sided test is at (1 - confidence) / 2
    margin: float  # absolute, for the quality metrics
    relative_margin: float  # x model b's value, for rank distance
    samples: int  # cluster resamples behind each standard error
    seed: int
    primary_setting: str  # the domain study's primary endpoint
    primary_metric: str

    @classmethod
    def from_config(cls, section: Mapping) -> Protocol:
        """The config's `report.protocol` (checked at start-up by hybridbatch.config)."""
        return cls(
            version=section["version"],
            confidence=section["confidence"],
            margin=section["margin"],
            relative_margin=section["relative_margin"],
            samples=section["resampling"]["samples"],
            seed=section["resampling"]["seed"],
            primary_setting=section["domain_primary"]["setting"],
            primary_metric=section["domain_primary"]["metric"],
        )

    @property
    def alpha(self) -> float:
        return (1 - self.confidence) / 2

    def margin_of(self, metric: str, b_value: float) -> float:
        return self.relative_margin * b_value if metric in LOWER_IS_BETTER else self.margin

    def digest(self) -> str:
        """The first 12 hex digits of the sha256 of the protocol's canonical JSON."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
