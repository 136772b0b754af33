"""Logging for workflow scripts: to the rule's log file and to stderr, failures included."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hybridbatch.core.errors import HybridbatchError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def error_report(error: BaseException) -> str:
    """An expected error's message with its notes (which name the file being written, say)."""
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


@contextmanager
def logged(log_path: str | os.PathLike[str]) -> Iterator[logging.Logger]:
    """Send log records to `log_path` and stderr. A failure is reported once, there: an expected
    error (HybridbatchError) as its message alone, anything else with its traceback; the process
    then exits with status 1."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w", encoding="utf-8"),
        logging.StreamHandler(sys.stderr),
    ]
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logger = logging.getLogger("hybridbatch")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        logger.info("offline (HF_HUB_OFFLINE=1): models and data come from local files and the Hugging Face cache only")
    try:
        yield logger
    except HybridbatchError as error:
        logger.error("%s", error_report(error))
        raise SystemExit(1) from None
    except Exception:
        logger.exception("failed")
        raise SystemExit(1) from None
    finally:
        logging.shutdown()
