"""Logging for workflow scripts: to the rule's log file and to stderr, failures included."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def logged(log_path: str | os.PathLike[str]) -> Iterator[logging.Logger]:
    """Send log records to `log_path` and stderr; record an exception's traceback there too."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w", encoding="utf-8"),
        logging.StreamHandler(sys.stderr),
    ]
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logger = logging.getLogger("hybridbatch")
    try:
        yield logger
    except Exception:
        logger.exception("failed")
        raise
    finally:
        logging.shutdown()
