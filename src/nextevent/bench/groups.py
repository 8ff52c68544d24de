"""Exchangeable option sets: FutureBench distractors that carry no signal of their own.

**Construction.** Per question type, candidate items (`Entry`: one video's past, true
answer sequence and, for interpolation, end anchor) are put into groups of
`GROUP_SIZE` = 4 similar videos, never two segments of one ``video_id``. The option set
of a group is the four videos' true answer sequences. Each of the four items (one per
video) shows *the same* options under *the same* letters, its own video's sequence
being its key; the letter arrangement is a seeded shuffle per group.

**Why option-only baselines are at chance, exactly, on any data.** Take any function
``f`` of what an item shows besides the video and past that is the same for the four
items of a group: the options with their letters (length, word or embedding
centrality, shared event sets, positional agreement, numeric rank, letter position) and,
for extrapolation, the question (one fixed sentence per type). ``f`` returns the same
letter in all four items, and that letter is the key of exactly one of them (the four
keys are the four different letters). So ``f`` is right on exactly one item in four,
in every group: accuracy exactly 1/4 whatever the data, the embedding model or the
phrasing. The four keys of a group also fill A-D once each, so answer letters are
exactly balanced. (A baseline that breaks ties at random, seeded by per-item text, is
right 1/4 of the time in expectation.)

**What construction does not give: the question (interpolation) and the past.** The
interpolation question names its video's end anchor, and the past caption belongs to
one video of the group, so similarity to them can point at the key (the true next event
shares words with its own past: among a seed's 10 nearest ActivityNet videos, the most
word-similar option to the past is the key in about 65% of items). Groups are therefore
*accepted* by a symmetric check. For each text a blind model reads per item
(`row_texts`: the past caption and its last event; for interpolation also the end anchor
and the whole question) and each similarity (`MEASURES`: four word-set measures,
character 4-grams, tf-idf and MiniLM; `Similarities`), the 4 x 4 matrix
``sim(text_i, option_j)`` gives the rank of each item's key among its options
(`rank_hits`). Over the accepted groups of a type, the share of keys at each rank may
not exceed `RANK_LIMITS` (25% most similar, 25% least similar, 30% for the two middle
ranks), enforced as a running budget (`Balance`) while groups are accepted, with at most
3 of a group's 4 keys at one rank. A "most similar" or a "least similar" pick is then at
chance by every measure of the check, and a "2nd most similar" pick at most 5 points
above it. The recommended per-group rule (the key the most similar option in at most 1
of the 4 rows) is the special case of a zero budget; it keeps few groups when
several measures must hold at once (1.6% of a seed's candidate groups on the ActivityNet
val subset, hop1, 3 measures) and, bounding only the top rank, pushes keys to rank 2 (on
ActivityNet val a "2nd most similar" MiniLM pick then reached 36-45% of hop1-hop5 items).
Several measures from different families are checked together so the acceptance is not
specific to one of them: on ActivityNet val, similarities *outside* the check (BM25,
tf-idf with stopwords, word-bigram tf-idf, character 3-grams, another stemmer, raw
overlap counts) put the key first in at most 30% of the items of each type with 100 or
more items. This is adversarial filtering (Zellers et
al., "SWAG: A Large-Scale Adversarial Dataset for Grounded Commonsense Inference",
EMNLP 2018, section 3): candidate options a simple model tells apart from the context
are rejected and replaced. Candidate groups come from each seed's nearest videos (MiniLM
cosine of the whole caption), the most similar admissible group first, so the other
three videos are hard negatives: on topic, plausible after the past, and not given away
by their words.

**What is left out, and why.** No reordered truth and no swapped-in event: such an
option is never the key of any item, so an option-only rule that spots how it was made
(events shared with another option, an unusual order) removes it and beats chance; even
the same derangement applied to every option of a 2-video group,
``{T_A, pi(T_A), T_B, pi(T_B)}``, lets an order-plausibility rule be right half the time.
Model-written counterfactuals are not options either, for the same reason; when a model
is configured they only choose which videos are grouped (`nextevent.bench.build`). So the
distractors do not test event order within a sequence: every option is some video's true
order, and the item asks which sequence follows this past.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from nextevent.bench.textsim import STOPWORDS, content_words, near_duplicate, normalize

GROUP_SIZE = 4
"""Videos (and items) per exchangeable group; equals the number of options."""
NEIGHBOURS = 20
"""How many nearest free videos of a seed are candidates for its group."""


@dataclass(frozen=True)
class Entry:
    """One video's candidate item for one question type.

    Attributes:
        story_id: the source id (``video_id#split`` for a run, the video id for a file).
        video_id: the dataset's video id (two entries of one video never share a group).
        past: past events, in order.
        truth: the true answer events, in order (the key of this entry's item).
        anchor: the end anchor (interpolation), else None.
        question: the question text the item will carry.
        events: all events of the video (for the grouping similarity).
    """

    story_id: str
    video_id: str
    past: tuple[str, ...]
    truth: tuple[str, ...]
    anchor: str | None
    question: str
    events: tuple[str, ...]

    @property
    def past_caption(self) -> str:
        """The past as one text (``meta.past_caption`` of the item)."""
        return " ".join(self.past)


Vectors = Callable[[Sequence[str]], np.ndarray]
"""``texts -> unit-norm mean vector`` (e.g. `nextevent.audit.embed.TextVectors.mean`)."""

MEASURES: tuple[str, ...] = ("words_jaccard", "words_share", "words_count", "bigrams", "char4",
                             "tfidf", "minilm")
"""The similarities of the symmetric check (module docstring)."""


def row_texts(entry: Entry, qtype: str) -> dict[str, str]:
    """The texts a blind model reads per item besides the options, by kind: ``past`` (the
    past caption), ``last`` (the last past event) and, for interpolation, ``anchor`` and
    ``question``."""
    out = {"past": entry.past_caption, "last": entry.past[-1]}
    if qtype == "interp":
        out.update(anchor=entry.anchor or "", question=entry.question)
    return out


_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A crude stem: the first of ``-ing -ed -es -s -ly`` stripped from words longer
    than 4 letters (``plays``/``playing`` -> ``play``)."""
    for suffix in _SUFFIXES:
        if len(word) > 4 and word.endswith(suffix):
            return word[:-len(suffix)]
    return word


BITS = 4096
"""Width of the hashed feature sets (crc32 of each feature modulo BITS)."""
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def feature_bits(feats: frozenset[str]) -> np.ndarray:
    """A feature set hashed into `BITS` bits (crc32, stable across runs), packed:
    ``(BITS // 8,)`` uint8. Intersections and sizes are counted on the bits, so two
    features colliding count once (rare for sentence-sized sets)."""
    bits = np.zeros(BITS, dtype=bool)
    if feats:
        bits[[zlib.crc32(f.encode("utf-8")) % BITS for f in feats]] = True
    return np.packbits(bits)


class Similarities:
    """The similarity matrices of the symmetric check, for one question type.

    Measures (`MEASURES`), each between a text an item shows and an option:

    * ``words_jaccard``: Jaccard of content-word sets (`content_words`);
    * ``words_share``: share of the option's content words found in the text;
    * ``words_count``: content words in common (ranks options as the share of the
      text's words found in the option would);
    * ``bigrams``: Jaccard of word-bigram sets (all words, stopwords kept);
    * ``char4``: Jaccard of character 4-gram sets of the normalised texts (catches word
      forms: "plays" / "playing");
    * ``tfidf``: cosine of sublinear tf-idf vectors of stemmed content words, idf
      ``log(1 + N / df)`` over the type's options and texts;
    * ``minilm``: cosine of MiniLM mean vectors (a past caption and an option as the
      mean of their events).

    Sets are compared as hashed bit sets (`feature_bits`).

    Args:
        entries: the type's candidates.
        qtype: the question type.
        mean: MiniLM mean vectors (`Vectors`).
    """

    SETS: tuple[str, ...] = ("words", "bigrams", "char4")

    def __init__(self, entries: Sequence[Entry], qtype: str, mean: Vectors) -> None:
        self.entries, self.qtype, self.mean = entries, qtype, mean
        self.kinds = tuple(row_texts(entries[0], qtype)) if entries else ()
        texts = [(" ".join(e.truth), *row_texts(e, qtype).values()) for e in entries]
        # bits[name]: (N, slots, BITS // 8); slot 0 the option, then the row kinds
        self.bits = {name: np.stack([np.stack([feature_bits(_features(name, t)) for t in g])
                                     for g in texts]) if texts else None
                     for name in self.SETS}
        stems: dict[str, int] = {}
        df: Counter[int] = Counter()
        counts_of: list[list[Counter[int]]] = []
        for group in texts:
            cur = []
            for text in group:
                counts = Counter(stems.setdefault(stem(w), len(stems))
                                 for w in _content_tokens(text))
                df.update(counts.keys())
                cur.append(counts)
            counts_of.append(cur)
        n_docs = max(1, sum(len(g) for g in texts))
        idf = {j: math.log(1 + n_docs / c) for j, c in df.items()}
        self._tfidf: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for cur in counts_of:
            row = []
            for counts in cur:
                keys = np.array(sorted(counts), dtype=np.int64)
                weights = np.array([(1 + math.log(counts[k])) * idf[k] for k in keys])
                norm = float(np.linalg.norm(weights)) if len(weights) else 0.0
                row.append((keys, weights / norm if norm else weights))
            self._tfidf.append(row)
        self._opt_vec: dict[int, np.ndarray] = {}
        self._row_vec: dict[tuple[int, str], np.ndarray] = {}

    def _vector(self, i: int, kind: str | None) -> np.ndarray:
        e = self.entries[i]
        if kind is None:
            if i not in self._opt_vec:
                self._opt_vec[i] = self.mean(e.truth)
            return self._opt_vec[i]
        if (i, kind) not in self._row_vec:
            text = row_texts(e, self.qtype)[kind]
            self._row_vec[(i, kind)] = self.mean(e.past if kind == "past" else [text])
        return self._row_vec[(i, kind)]

    def matrices(self, index: Sequence[int]) -> dict[str, np.ndarray]:
        """``(K, K)`` matrices ``sim(row text of entry a, option of entry b)`` for the
        entries ``index``, one per ``"<kind>:<measure>"`` (`row_texts`, `MEASURES`)."""
        k = len(index)
        idx = np.asarray(index)
        slots = range(len(self.kinds) + 1)  # 0: the option, then the row kinds
        tfidf = _dense([[self._tfidf[i][s] for i in index] for s in slots])
        opt_v = np.stack([self._vector(i, None) for i in index])
        out: dict[str, np.ndarray] = {}
        sizes = {name: _POPCOUNT[self.bits[name][idx]].sum(axis=-1).astype(float)  # (K, S)
                 for name in self.SETS}
        for slot, kind in enumerate(self.kinds, start=1):
            for name in self.SETS:
                bits = self.bits[name]
                assert bits is not None
                rows, opts = bits[idx, slot], bits[idx, 0]
                inter = _POPCOUNT[rows[:, None, :] & opts[None, :, :]].sum(axis=-1).astype(
                    float)
                size_o = np.broadcast_to(sizes[name][None, :, 0], (k, k))
                union = sizes[name][:, slot][:, None] + size_o - inter
                label = "words_jaccard" if name == "words" else name
                out[f"{kind}:{label}"] = np.divide(inter, union, out=np.zeros((k, k)),
                                                   where=union > 0)
                if name == "words":
                    out[f"{kind}:words_share"] = np.divide(inter, size_o, out=np.zeros((k, k)),
                                                           where=size_o > 0)
                    out[f"{kind}:words_count"] = inter
            out[f"{kind}:tfidf"] = tfidf[slot] @ tfidf[0].T
            row_v = np.stack([self._vector(i, kind) for i in index])
            out[f"{kind}:minilm"] = row_v @ opt_v.T
        return out


def _features(name: str, text: str) -> frozenset[str]:
    if name == "words":
        return content_words(text)
    norm = normalize(text)
    if name == "bigrams":
        toks = norm.split()
        return frozenset(f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False))
    return frozenset(norm[i:i + 4] for i in range(max(0, len(norm) - 3)))


def _dense(bags: Sequence[Sequence[tuple[np.ndarray, np.ndarray | None]]]) -> list[np.ndarray]:
    """Dense ``(K, V)`` matrices of sparse bags (ids, weights or None for 1s) over the
    local vocabulary of all of them (so V stays small)."""
    flat = [ids for group in bags for ids, _ in group]
    every = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int64)
    local, inverse = np.unique(every, return_inverse=True)
    out, at = [], 0
    for group in bags:
        mat = np.zeros((len(group), max(1, len(local))))
        for r, (ids, weights) in enumerate(group):
            cols = inverse[at:at + len(ids)]
            at += len(ids)
            mat[r, cols] = 1.0 if weights is None else weights
        out.append(mat)
    return out


def _content_tokens(text: str) -> list[str]:
    return [w for w in normalize(text).split() if w not in STOPWORDS]


def clash(a: Entry, b: Entry) -> bool:
    """Whether two entries may not share a group: same video, near-duplicate options, or
    an end anchor restating an event of the other's answer."""
    return (a.video_id == b.video_id
            or near_duplicate(" ".join(a.truth), " ".join(b.truth))
            or _restates(a.anchor, b.truth) or _restates(b.anchor, a.truth))


def _restates(anchor: str | None, events: Sequence[str]) -> bool:
    return anchor is not None and any(near_duplicate(anchor, e) for e in events)


def rank_hits(sim: np.ndarray) -> np.ndarray:
    """For stacked ``(..., n, n)`` similarity matrices (row = an item's text, column = an
    option, the diagonal = the keys): ``(..., n)``, how many rows hold their key at rank
    ``r`` (0 = most similar), expected over random tie breaks (a key tied with ``t - 1``
    others spreads ``1/t`` over the ranks they share; a row whose options all tie counts
    ``1/n`` at every rank, an abstention scored as a guess). The "most similar" pick hits
    ``[..., 0]`` keys, the "least similar" ``[..., n - 1]``, and a "rank r" pick
    ``[..., r]``."""
    n = sim.shape[-1]
    diag = np.diagonal(sim, axis1=-2, axis2=-1)[..., None]
    above = (sim > diag + 1e-9).sum(axis=-1)
    tied = (np.abs(sim - diag) <= 1e-9).sum(axis=-1)
    out = np.zeros((*sim.shape[:-2], n))
    for r in range(n):
        at = (above <= r) & (r < above + tied)
        out[..., r] = np.where(at, 1 / tied, 0.0).sum(axis=-1)
    return out


RANK_LIMITS: tuple[float, ...] = (0.25, 0.30, 0.30, 0.25)
"""Most rows (fraction) of the accepted groups with their key at rank 0 (most similar),
1, 2 and 3 (least similar), per (text, measure): the "most" and "least similar" picks at
chance, a "second most similar" pick at most 5 points above it."""


@dataclass
class Balance:
    """Running key-rank counts of the accepted groups of one type, per similarity matrix
    (the budget of the symmetric check, module docstring).

    Attributes:
        counts: ``(M, 4)``: for each of the M (text, measure) pairs, how many accepted rows
            hold their key at each rank.
        names: the M ``"<text>:<measure>"`` names.
        groups: groups accepted (count).
        limits: `RANK_LIMITS`.
        slack: rows a rank may run ahead of its limit at any time (lets the first
            groups in).
        per_group: most rows of one group with their key at one rank.
    """

    counts: np.ndarray
    names: tuple[str, ...] = ()
    groups: int = 0
    limits: tuple[float, ...] = RANK_LIMITS
    slack: float = 1.5
    per_group: float = 3.0

    def feasible(self, hits: np.ndarray) -> np.ndarray:
        """``hits``: ``(C, M, 4)`` rank hits of C candidate groups; True for those whose
        acceptance keeps every rank of every matrix within its limit."""
        cap = np.asarray(self.limits) * GROUP_SIZE * (self.groups + 1) + self.slack
        within = ((self.counts[None] + hits) <= cap + 1e-9).all(axis=(1, 2))
        return within & (hits <= self.per_group + 1e-9).all(axis=(1, 2))

    def add(self, hits: np.ndarray) -> None:
        """Count an accepted group's ``(M, 4)`` rank hits."""
        self.counts += hits
        self.groups += 1

    def rates(self) -> dict[str, list[float]]:
        """``"<text>:<measure>" -> [fraction of accepted rows with the key at rank 0..3]``."""
        rows = max(1, self.groups * GROUP_SIZE)
        return {name: [round(float(x) / rows, 4) for x in self.counts[m]]
                for m, name in enumerate(self.names)}


@dataclass
class Grouping:
    """Groups of one question type.

    Attributes:
        groups: entry indices per group (`GROUP_SIZE` each), in the order found.
        ungrouped: entry indices left without a group.
        tried: candidate groups whose rank hits were computed (count).
        rejected: of those, how many were outside the rank budget (count).
        clashes: passing groups passed over for a near-duplicate option or an anchor
            restating another option's event (count).
        balance: the final key-rank counts (`Balance`), None when no group was tried.
    """

    groups: list[list[int]] = field(default_factory=list)
    ungrouped: list[int] = field(default_factory=list)
    tried: int = 0
    rejected: int = 0
    clashes: int = 0
    balance: Balance | None = None


def form_groups(entries: Sequence[Entry], qtype: str, mean: Vectors, *, seed: int = 0,
                closeness: np.ndarray | None = None, neighbours: int = NEIGHBOURS,
                passes: int = 2) -> Grouping:
    """Greedy exchangeable groups (module docstring).

    Seeds are visited in a seeded random order (``passes`` times over those still free);
    for each free seed, the candidate groups are the seed plus 3 of its ``neighbours``
    most similar free entries of other videos, tried from the highest mean closeness
    down; the first within the rank budget (`Balance`) that has no `clash` is taken.

    Args:
        entries: candidates of one question type, all with the same number of answer
            events.
        qtype: the question type (interpolation also checks anchor and question).
        mean: unit-norm mean vector of texts (MiniLM).
        seed: seed of the visiting order.
        closeness: ``(N, N)`` grouping similarity; None: cosine of the mean MiniLM
            vector of each entry's whole caption.
        neighbours: how many nearest free entries of a seed are candidates.
        passes: rounds over the seeds still free (the budget loosens as groups come in).

    Returns:
        The `Grouping`.
    """
    n = len(entries)
    out = Grouping()
    if n < GROUP_SIZE:
        out.ungrouped = list(range(n))
        return out
    if closeness is None:
        caps = np.stack([mean(e.events) for e in entries])
        closeness = caps @ caps.T
    sims = Similarities(entries, qtype, mean)
    balance: Balance | None = None
    free = np.ones(n, dtype=bool)
    order = list(range(n))
    random.Random(f"{seed}:{qtype}:groups").shuffle(order)
    videos = np.array([e.video_id for e in entries])
    for _ in range(passes):
        for i in order:
            if not free[i]:
                continue
            near = np.where(free & (videos != videos[i]), closeness[i], -np.inf)
            top = min(n - 1, 4 * neighbours)
            cand = np.argpartition(-near, top - 1)[:top] if top < n else np.arange(n)
            cand = cand[np.argsort(-near[cand], kind="stable")]
            cand = [int(j) for j in cand if np.isfinite(near[j])][:neighbours]
            if len(cand) < GROUP_SIZE - 1:
                continue
            index = [i, *cand]
            mats = sims.matrices(index)
            if balance is None:
                balance = Balance(np.zeros((len(mats), GROUP_SIZE)), tuple(mats))
            chosen = _best_group(index, mats, closeness, entries, balance, out)
            if chosen is None:
                continue
            free[chosen] = False
            out.groups.append(chosen)
    out.ungrouped = [i for i in range(n) if free[i]]
    out.balance = balance
    return out


@lru_cache(maxsize=64)
def _combos(k: int) -> np.ndarray:
    """Index groups ``(0, a, b, c)`` with ``0 < a < b < c < k``: shape ``(C, 4)``."""
    return np.array([(0, *c) for c in itertools.combinations(range(1, k), GROUP_SIZE - 1)],
                    dtype=np.int64).reshape(-1, GROUP_SIZE)


CHUNK = 128
"""Candidate groups whose rank hits are computed at once (in closeness order)."""


def _best_group(index: list[int], mats: dict[str, np.ndarray], closeness: np.ndarray,
                entries: Sequence[Entry], balance: Balance, tally: Grouping,
                ) -> list[int] | None:
    """The group of ``index[0]`` with 3 of ``index[1:]``, highest mean closeness first,
    that is within the budget and has no `clash` (counted into ``balance``); None if
    none."""
    combos = _combos(len(index))
    sub = closeness[np.ix_(index, index)]
    close = sub[combos[:, :, None], combos[:, None, :]]
    mean_close = (close.sum(axis=(1, 2)) - np.trace(close, axis1=1, axis2=2)) / (
        GROUP_SIZE * (GROUP_SIZE - 1))
    combos = combos[np.argsort(-mean_close, kind="stable")]
    stacked = np.stack(list(mats.values()))  # (M, K, K)
    checked: dict[tuple[int, int], bool] = {}
    for start in range(0, len(combos), CHUNK):
        chunk = combos[start:start + CHUNK]
        hits = rank_hits(stacked[:, chunk[:, :, None], chunk[:, None, :]]).transpose(1, 0, 2)
        ok = balance.feasible(hits)
        tally.tried += len(chunk)
        tally.rejected += int((~ok).sum())
        for c in np.where(ok)[0]:
            combo = [index[int(j)] for j in chunk[c]]
            pairs = list(itertools.combinations(combo, 2))
            for pair in pairs:
                if pair not in checked:
                    checked[pair] = clash(entries[pair[0]], entries[pair[1]])
            if any(checked[p] for p in pairs):
                tally.clashes += 1
                continue
            balance.add(hits[c])
            return combo
    return None
