"""The texts of each manifest batch, looked up in the sources' pairs tables."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hybridbatch.core.errors import DataError


class ManifestBatches:
    """Batch i of the manifest as texts: its rows' queries, positives and hard negatives."""

    def __init__(self, manifest: pd.DataFrame, pairs: Mapping[str, pd.DataFrame], hard_negatives: int) -> None:
        self.manifest = manifest
        self.hard_negatives = hard_negatives
        self.lookup = {
            source: table.set_index(["group_id", "lang"])[["query", "positive", "hard_negatives"]].to_dict("index") for source, table in pairs.items()
        }
        self.starts = manifest.groupby("batch", sort=True).indices

    def __len__(self) -> int:
        return len(self.starts)

    def rows(self, batch: int) -> int:
        return len(self.starts[batch])

    def texts(self, batch: int, share: slice = slice(None)) -> tuple[list[str], list[str]]:
        """Queries and passages (positives, then hard negatives) of the rows `share` of a batch."""
        queries, positives, negatives = [], [], []
        for row in self.manifest.iloc[self.starts[batch][share]].itertuples():
            table = self.lookup[row.source]
            try:
                query_row, passage_row = table[(row.group_id, row.query_lang)], table[(row.group_id, row.passage_lang)]
            except KeyError as error:
                raise DataError(f"manifest batch {batch}: {row.source} has no pair {error.args[0]}") from None
            queries.append(query_row["query"])
            positives.append(passage_row["positive"])
            negatives += list(passage_row["hard_negatives"])[: self.hard_negatives]
        return queries, positives + negatives
