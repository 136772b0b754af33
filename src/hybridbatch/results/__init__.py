"""Results stage: what a researcher reads (needs neither torch nor FAISS).

- `tables`: summary and per-language tables from checked metric files.
- `verdicts`: the statistical core: cluster-resampled estimates, seed components, the four verdicts.
- `protocol`: the pre-registered rules every verdict is decided under (docs/protocol.md).
- `claims`: the paper's claims as tests; `domains`: the domain study's table.
- `documents`: tables as Markdown and HTML.
- `figure_catalog`: which figures there are, what each reads, its caption (no matplotlib: the
  workflow reads it at every parse); `figures`: how each is drawn.
"""
