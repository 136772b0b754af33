"""The pre-registered protocol of every verdict (config `report.protocol`; rules and history in
docs/protocol.md). Light enough for the config check at start-up: no statistics imported here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from hybridbatch.core.contract import LOWER_IS_BETTER

# The verdict rules the code implements (hybridbatch.results.verdicts; docs/protocol.md); `report.protocol.version`
# must name one. Version 3 is version 2 with a ceiling on the domain study's primary endpoints.
RULE_VERSIONS = (2, 3)
RULE_VERSION = RULE_VERSIONS[-1]
CEILING_VERSION = 3


def version_problem(version: int, domain_ceiling: float | None = None) -> str | None:
    """Why a configured protocol version (with its domain ceiling, or None) cannot be run, or None."""
    if version not in RULE_VERSIONS:
        return f"{version}, but this code implements the verdict rules of versions {', '.join(map(str, RULE_VERSIONS))} (docs/protocol.md): a rule change is a new version"
    if (version >= CEILING_VERSION) != (domain_ceiling is not None):
        return f"{version} {'needs' if version >= CEILING_VERSION else 'has no'} domain_ceiling (version {CEILING_VERSION} added it; docs/protocol.md)"
    return None


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
    # Version 3: a domain whose base model scores above this on the primary endpoint has no primary
    # endpoint (a ceiling leaves no room to tell models apart); None before version 3.
    domain_ceiling: float | None = None

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
            domain_ceiling=section.get("domain_ceiling"),
        )

    @property
    def alpha(self) -> float:
        return (1 - self.confidence) / 2

    def margin_of(self, metric: str, b_value: float) -> float:
        return self.relative_margin * b_value if metric in LOWER_IS_BETTER else self.margin

    def digest(self) -> str:
        """The first 12 hex digits of the sha256 of the protocol's canonical JSON (a field a version
        does not have is left out, so that an earlier version's hash stays what it was)."""
        fields = {name: value for name, value in asdict(self).items() if value is not None}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
