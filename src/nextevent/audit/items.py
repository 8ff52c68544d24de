"""The item the blind audit reads, and how FutureBench and T3 items become one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nextevent.records import BenchItem
    from nextevent.t3.items import T3Item


@dataclass(frozen=True)
class AuditItem:
    """One multiple-choice item as the blind baselines see it.

    Attributes:
        id: unique item id.
        group: what the gate is computed per: the FutureBench ``question_type``
            (``hop1``..``hop5``, ``interp``) or the T3 task name (``order_pair``, ...).
        question: the question as the model reads it, without video, frames or options.
        options: letter -> option text (2 or more options; chance is ``1/len(options)``).
        answer: the key letter. Read only by the scorer (`nextevent.audit.report`),
            never by a baseline.
        past_text: FutureBench: the past caption (``meta["past_caption"]``); else None.
        anchor: FutureBench interpolation: the end anchor (``meta["end_anchor"]``); else
            None.
    """

    id: str
    group: str
    question: str
    options: dict[str, str]
    answer: str
    past_text: str | None = None
    anchor: str | None = None


def _letters(keys: Sequence[str]) -> str:
    """``A-C`` for a run of consecutive letters, else ``A, C``."""
    ks = sorted(keys)
    run = len(ks) > 2 and all(ord(b) - ord(a) == 1 for a, b in zip(ks, ks[1:], strict=False))
    return f"{ks[0]}-{ks[-1]}" if run else ", ".join(ks)


def mc_problem(item_id: str, question: str, options: dict[str, str] | None,
               answer: str) -> str | None:
    """Why a multiple-choice item cannot be asked or scored, or None when it can.

    Checks what a schema cannot: a non-empty id and question, at least 2 options, none
    empty or the same text as another (after trimming spaces), and the answer letter among
    the options. Used where bench and T3 files are read (`nextevent.bench.build.read_items`,
    `nextevent.t3.synth.read_items`).
    """
    if not item_id.strip():
        return "the id is empty"
    if not question.strip():
        return "the question is empty"
    if not options or len(options) < 2:
        return f"it has {len(options or {})} option(s); a multiple-choice item needs 2 or more"
    empty = [k for k, v in options.items() if not v.strip()]
    if empty:
        return f"option {empty[0]} is empty"
    seen: dict[str, str] = {}
    for key, text in options.items():
        other = seen.setdefault(text.strip(), key)
        if other != key:
            return f"options {other} and {key} are the same text"
    if answer not in options:
        return f"answer {answer} is not one of the options {_letters(list(options))}"
    return None


def from_bench(items: Sequence[BenchItem]) -> list[AuditItem]:
    """Audit items of FutureBench items (`nextevent.records.BenchItem`): group =
    ``question_type``, past text and end anchor from ``meta`` when there."""
    out = []
    for item in items:
        past = item.meta.get("past_caption")
        anchor = item.meta.get("end_anchor")
        out.append(AuditItem(id=item.id, group=item.question_type, question=item.qa.Question,
                             options=dict(item.qa.Options), answer=item.qa.Answer,
                             past_text=str(past) if past else None,
                             anchor=str(anchor) if anchor else None))
    return out


def t3_question(prompt: str, options: dict[str, str]) -> str:
    """The question of a multiple-choice T3 prompt without the text video and options.

    A T3 prompt (`nextevent.t3.items.make_item`) is ``intro, frame lines, blank line,
    question, option lines, instruction``; the part after the first blank line, minus the
    option lines and the instruction, is returned.
    """
    from nextevent.t3.items import MC_INSTRUCTION

    body = prompt
    if body.endswith(MC_INSTRUCTION):
        body = body[:-len(MC_INSTRUCTION)].rstrip("\n")
    option_lines = [f"{k}. {v}" for k, v in options.items()]
    tail = "\n" + "\n".join(option_lines)
    if body.endswith(tail):
        body = body[:-len(tail)]
    else:
        lines = body.split("\n")
        body = "\n".join(line for line in lines if line not in set(option_lines))
    head, sep, question = body.partition("\n\n")
    return (question if sep else head).strip()


def from_t3(items: Sequence[T3Item]) -> list[AuditItem]:
    """Audit items of the multiple-choice T3 items (`nextevent.t3.items.T3Item` with
    ``form == "mc"``; open items are skipped): group = the task name, question = the
    question sentence(s) without the text video: ``meta["question"]`` when the item
    carries it, else cut from the prompt (`t3_question`)."""
    out = []
    for item in items:
        if item.form != "mc" or not item.options:
            continue
        question = item.meta.get("question")
        if not isinstance(question, str) or not question.strip():
            question = t3_question(item.prompt, item.options)
        out.append(AuditItem(id=item.id, group=item.task, question=question,
                             options=dict(item.options), answer=item.answer))
    return out
