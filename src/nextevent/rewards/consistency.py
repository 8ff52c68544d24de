"""Think-answer consistency: is the letter in ``<answer>`` the option the ``<think>``
text concludes?

After Video-R2's Think-Answer Consistency (TAC; Maaz et al., arXiv 2511.23478), which
found reasoning models that conclude one option while thinking and answer another. Here
the thinking's conclusion is read by a rule (`think_conclusion`); ``bench eval --mode
reasoning`` can ask a judge model instead (`nextevent.bench.evaluate`).

The rule: the conclusion is the **last option the thinking names**, where naming is

* a letter in an option-like context, never a bare capital letter: wrapped (``(C)``,
  ``[C]``, ``**C**``, ``"C"``), marked (``C.``, ``C)``, ``C:``, or the letter ending a
  line), after an answer cue (``option C``, ``choice C``, ``the answer is C``,
  ``choose C``, ``go with C``, ``so C``, ``between B and C``), before a predicate
  (``C is``, ``C fits``, ``C's``), or in a list with another letter (``B or C``). The
  article ``A`` (``A man waves``) is no option unless a strong cue comes right before it
  (``option A man`` is rare; ``so A man`` is read as the article). Letters touching a
  word character, hyphen or apostrophe (``Apple``, ``A-frame``, ``D'Angelo``) or in
  an abbreviation (``D.C.``) are not letters. Only capitals count.
* or an option's own text (when the options are given), matched word for word, case and
  punctuation aside (options of fewer than two words or 8 characters are not matched).

A mention the thinking rejects in the same breath (``not C``, ``rule out C``, ``rather
than C``, ``C is wrong``, ``C doesn't fit``, ``neither A nor B``) names no conclusion, and
a list of three or more letters (``the options A, B, C and D``) is an enumeration, not a
conclusion. A thinking that names no option (or only rejects them) has no conclusion.

`check_consistency` sorts a response into consistent, inconsistent, or neither: an item
whose thinking names no option, or that has no ``<answer>`` letter, is neither consistent
nor inconsistent, and ``bench eval`` counts the two kinds apart from the rate.
`consistency_reward` is the training reward: 1.0 when consistent, else 0.0 (no
conclusion or no answer gives 0.0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from nextevent.rewards.format import ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from nextevent.rewards.mcq import LETTERS, extract_choice

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_TAG = re.compile(r"</?(?:think|answer)>")
_OPEN = "([{*\"'`\u201c\u2018"
_CLOSE = ")]}*\"'`\u201d\u2019"
_MARKUP = r"[\s*_`\"'\u201c\u201d\u2018\u2019(\[{]"
# A strong cue: the letter after it is an option even when a lower-case word follows.
_STRONG_CUE = (r"(?:\b(?:options?|choices?|answers?|letters?|alternatives?)"
               r"(?:\s+(?:is|was|would\s+be|will\s+be|must\s+be|should\s+be|has\s+to\s+be|"
               r"seems\s+to\s+be|=))?\s*[:=]?"
               r"|\b(?:choos\w*|chose\w*|pick\w*|select\w*|go(?:ing)?\s+with|went\s+with|"
               r"settl\w*\s+(?:on|for)|opt(?:s|ed|ing)?\s+for|prefer\w*|favou?r\w*))")
# A weak cue: enough for B-D, not for "A" before a lower-case word (the article).
_WEAK_CUE = (r"(?:\b(?:think|guess|say|believe|conclu\w*|so|thus|therefore|hence|between|"
             r"but|is|be)|[:=])")
_ADVERB = r"(?:\s+(?:probably|likely|clearly|definitely|most\s+likely|actually|indeed|then))?"
_CUE_BEFORE = re.compile(rf"(?P<cue>{_STRONG_CUE}|{_WEAK_CUE}){_ADVERB}{_MARKUP}*\Z",
                         re.IGNORECASE)
_STRONG_BEFORE = re.compile(rf"{_STRONG_CUE}{_ADVERB}{_MARKUP}*\Z", re.IGNORECASE)
_NEGATED_BEFORE = re.compile(
    r"(?:\b(?:not|no|neither|nor|except|than|over|against|unlike|besides|eliminat\w*|"
    r"exclud\w*|reject\w*|discard\w*|dismiss\w*|drop\w*)|n['\u2019]t|\brul\w*\s+out|"
    r"(?:\bnot|n['\u2019]t)\s+(?:think|believe|say|pick|choose|select|go\s+with|like)|"
    r"\binstead\s+of|\bother\s+than)"
    r"(?:\s+(?:the\s+)?(?:options?|choices?|answers?|letters?))?" + _MARKUP + r"*\Z",
    re.IGNORECASE)
_PREDICATE_AFTER = re.compile(
    r"['\u2019]s\b|[\s*_`\"'\u201d\u2019)\]]*\s+(?:is|are|was|were|seems?|looks?|appears?|"
    r"fits?|match(?:es)?|makes?|would|could|can|must|should|best|describes?|says|states|"
    r"suggests?|shows?|mentions?|remains?|wins?|aligns?|corresponds?|captures?|implies|"
    r"sounds?|has|have|does|predicts?|involves?|works?|holds?|gives?|follows?|agrees?|"
    r"reflects?|stands?)\b", re.IGNORECASE)
_NEGATED_AFTER = re.compile(
    r"[\s*_`\"'\u201d\u2019)\]]*\s+(?:"
    r"(?:is|are|was|were|seems?|looks?|appears?|sounds?)(?:\s+to\s+be)?"
    r"(?:\s+(?:also|clearly|definitely|probably|obviously|likely|just|simply|too|"
    r"actually|then))?\s+(?:not\b|wrong|incorrect|unlikely|implausible|impossible|false|"
    r"irrelevant|inconsistent|contradicted|ruled\s+out|eliminated|out\b|less\b|"
    r"(?:the\s+)?least\b|off\b|unrelated|a\s+distractor)"
    r"|(?:is|are|was|were|does|do|did|can|could|would|should)(?:n['\u2019]t|\s+not)\b"
    r"|cannot\b|contradicts?\b|fails?\b|conflicts?\b|won['\u2019]t\b)", re.IGNORECASE)
_SEPARATOR = re.compile(r"(?:[\s*_`\"'\u201c\u201d\u2018\u2019()\[\]{}]|,|/|&|\band\b|"
                        r"\bor\b|\bnor\b|\bvs\b\.?|\bversus\b)*", re.IGNORECASE)
_HAS_SEPARATOR = re.compile(r",|/|&|\b(?:and|or|nor|vs|versus)\b", re.IGNORECASE)
_LINE_END = re.compile(r"[\s*_`\"'\u201d\u2019)\]]*[.!?;:,]?[ \t*_`\"'\u201d\u2019)\]]*"
                       r"(?:\n|\Z)")
_ARTICLE_AFTER = re.compile(r"\s+[a-z]")
_LOOKBEHIND = 80  # characters before a mention searched for a cue


class Consistency(NamedTuple):
    """One response's think-answer consistency.

    Attributes:
        conclusion: the option the thinking concludes (None: it names none, or there is
            no thinking).
        answer: the ``<answer>`` letter (None: no closed ``<answer>`` block with a letter).
        consistent: ``conclusion == answer``; None when either is None (neither
            consistent nor inconsistent).
    """

    conclusion: str | None
    answer: str | None
    consistent: bool | None


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    letter: str


def think_text(response: str, reasoning: str | None = None) -> str | None:
    """The thinking of a response: the first closed ``<think>`` block; else (a server
    that splits the thinking out) ``reasoning``; else the text before a lost opening tag's
    ``</think>``, or before the first ``<answer>``. None when there is none (a blank
    thinking is None too).

    Raises:
        TypeError: when ``response`` is not a string.
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}")
    found = _THINK.search(response)
    if found is not None:
        text = found.group(1)
    elif reasoning is not None and reasoning.strip():
        text = reasoning
    elif THINK_CLOSE in response and THINK_OPEN not in response:
        text = response.split(THINK_CLOSE, 1)[0]
    elif ANSWER_OPEN in response and THINK_OPEN not in response:
        text = response.split(ANSWER_OPEN, 1)[0]
    else:
        return None
    text = _TAG.sub(" ", text)
    return text if text.strip() else None


def think_conclusion(thinking: str, options: Mapping[str, str] | None = None,
                     choices: str = LETTERS) -> str | None:
    """The option a thinking text concludes: the last option it names (rule in the
    module docstring), or None when it names none.

    Args:
        thinking: the reasoning text (`think_text`), tags already removed.
        options: letter -> option text, to match an option named by its text; None
            matches letters only.
        choices: the option letters, upper case.

    Raises:
        TypeError: when ``thinking`` is not a string.
    """
    if not isinstance(thinking, str):
        raise TypeError(f"thinking must be a str, got {type(thinking).__name__}")
    spans = _text_mentions(thinking, options or {}, choices)
    letters = [m for m in _letter_mentions(thinking, choices)
               if not any(s.start <= m.start < s.end for s in spans)]
    named = [s for s in spans if not _NEGATED_BEFORE.search(_before(thinking, s.start))]
    named += _option_letters(thinking, letters)
    if not named:
        return None
    return max(named, key=lambda m: (m.start, m.end)).letter


def check_consistency(response: str, options: Mapping[str, str] | None = None, *,
                      reasoning: str | None = None, choices: str = LETTERS) -> Consistency:
    """The thinking's conclusion, the ``<answer>`` letter and whether they agree.

    Args:
        response: the decoded model response.
        options: letter -> option text (see `think_conclusion`).
        reasoning: the separate reasoning text a server returned, if any (used when the
            response holds no ``<think>`` block).
        choices: the option letters.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    answer = extract_choice(response, "reasoning", choices)
    thinking = think_text(response, reasoning)
    conclusion = None if thinking is None else think_conclusion(thinking, options, choices)
    consistent = None if conclusion is None or answer is None else conclusion == answer
    return Consistency(conclusion, answer, consistent)


def consistency_reward(response: str, options: Mapping[str, str] | None = None, *,
                       reasoning: str | None = None, choices: str = LETTERS) -> float:
    """1.0 when the ``<answer>`` letter is the option the ``<think>`` text concludes, else
    0.0 (also for no conclusion or no answer). Arguments as in `check_consistency`.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    result = check_consistency(response, options, reasoning=reasoning, choices=choices)
    return 1.0 if result.consistent else 0.0


# --------------------------------------------------------------------------- mentions


def _before(text: str, start: int) -> str:
    return text[max(0, start - _LOOKBEHIND):start]


def _text_mentions(text: str, options: Mapping[str, str], choices: str) -> list[_Mention]:
    """Options named by their own text, outer spans only (an option inside another's
    text is the longer one)."""
    found: list[_Mention] = []
    for letter, option in options.items():
        words = re.findall(r"\w+", str(option))
        if letter not in choices or len(words) < 2 or len(" ".join(words)) < 8:
            continue
        pattern = re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)",
                             re.IGNORECASE)
        found += [_Mention(m.start(), m.end(), letter) for m in pattern.finditer(text)]
    return [m for m in found if not any(
        o is not m and o.start <= m.start and m.end <= o.end and (o.end - o.start) >
        (m.end - m.start) for o in found)]


def _letter_mentions(text: str, choices: str) -> list[_Mention]:
    """Capital option letters that stand alone (not in a word, hyphenation, elision or
    abbreviation)."""
    out = []
    for m in re.finditer(rf"[{choices}]", text):
        i, j = m.start(), m.end()
        prev, nxt = text[i - 1:i], text[j:j + 1]
        if prev and (prev.isalnum() or prev in "_-"):
            continue
        if prev and prev in "'\u2019" and i >= 2 and text[i - 2].isalnum():
            continue  # rock'n'roll, o'C
        if nxt and (nxt.isalnum() or nxt in "_-+#"):
            continue
        after = text[j:j + 3]
        if re.match(r"['\u2019]\w", after) and not re.match(r"['\u2019]s\b", after):
            continue  # D'Angelo
        if re.match(r"\.\w", after) or re.search(r"\w\.\Z", text[:i]):
            continue  # D.C., U.S.A
        out.append(_Mention(i, j, m.group()))
    return out


def _option_letters(text: str, letters: list[_Mention]) -> list[_Mention]:
    """The letters that name an option and are not rejected, grouped into lists
    (``B or C``): a list is option-like as a whole, and rejected as a whole."""
    # a label right before the same letter ("check D: D doesn't fit") takes its word
    letters = [m for m, n in zip(letters, [*letters[1:], None], strict=False)
               if n is None or n.letter != m.letter
               or not re.fullmatch(r"[\s:*_\-\u2013\u2014]*:[\s*_]*", text[m.end:n.start])]
    groups: list[list[_Mention]] = []
    for m in letters:
        if groups:
            gap = text[groups[-1][-1].end:m.start]
            if _SEPARATOR.fullmatch(gap) and _HAS_SEPARATOR.search(gap):
                groups[-1].append(m)
                continue
        groups.append([m])
    out: list[_Mention] = []
    for group in groups:
        first, last = group[0], group[-1]
        before = _before(text, first.start)
        after = text[last.end:]
        if len({m.letter for m in group}) >= 3:
            continue  # "the options A, B, C and D": an enumeration
        if _NEGATED_BEFORE.search(before) or _NEGATED_AFTER.match(after):
            continue
        if len(group) >= 2 or any(_marked(text, m) for m in group) or _PREDICATE_AFTER.match(
                after):
            out += group
            continue
        if _CUE_BEFORE.search(before) is None:
            continue
        article = (first.letter == "A" and _ARTICLE_AFTER.match(text, first.end)
                   and not _STRONG_BEFORE.search(before))
        if not article:
            out += group
    return out


def _marked(text: str, m: _Mention) -> bool:
    """Wrapped (``(C)``, ``**C**``), or marked (``C.``, ``C)``, ``C:``, or ending a line)
    after the start, a space or opening markup."""
    prev, nxt = text[m.start - 1:m.start], text[m.end:m.end + 1]
    if prev and prev in _OPEN and nxt and nxt in _CLOSE:
        return True
    if prev and not (prev.isspace() or prev in _OPEN):
        return False
    if nxt in (".", ")", ":") and re.match(r"[.):](?:[\s*_`\"'\u201d\u2019)\]]|\Z)",
                                           text[m.end:m.end + 2]):
        return True
    return _LINE_END.match(text, m.end) is not None
