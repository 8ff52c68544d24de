"""Exporters from run records to training-engine formats.

Every target is called alike::

    result = TARGETS[name](records, run_dir, out_dir, seed=seed, media_root=media_root)

and returns an `ExportResult` (files written, sample count, one `Failure` per skipped
record, a summary for the CLI). Targets:

* ``llamafactory``: sharegpt video SFT data + ``dataset_info.json`` (`export_llamafactory`).
* ``easyr1``: JSON Lines for EasyR1 GRPO (`export_easyr1`).
* ``v1``: V1-33K's ``next_event_prediction.json`` (`export_v1`; `import_v1` reads it back).
"""

from __future__ import annotations

from collections.abc import Callable

from nextevent.export.base import ExportResult, media_path
from nextevent.export.easyr1 import export_easyr1
from nextevent.export.llamafactory import export_llamafactory
from nextevent.export.questions import NEP_QUESTIONS, PREV_QUESTIONS, nep_question, prev_question
from nextevent.export.v1 import export_v1, import_v1

TARGETS: dict[str, Callable[..., ExportResult]] = {
    "llamafactory": export_llamafactory,
    "easyr1": export_easyr1,
    "v1": export_v1,
}

__all__ = [
    "NEP_QUESTIONS",
    "PREV_QUESTIONS",
    "TARGETS",
    "ExportResult",
    "export_easyr1",
    "export_llamafactory",
    "export_v1",
    "import_v1",
    "media_path",
    "nep_question",
    "prev_question",
]
