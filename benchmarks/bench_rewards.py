"""Reward throughput for one GRPO-sized batch, against raw sentence-transformers, in one run.

A GRPO step scores every rollout of the batch: here 512 prompts x 8 generations = 4,096
responses (``--prompts``, ``--generations``). The texts are real: each prompt is an
ActivityNet Captions video (``tests/data/annotations/activitynet_val_subset.json``) cut after
its first half of events; the reference is the rest (``caption_part2``); the eight
responses mix the true future, a past event, another video's events and truncations,
half of them in the ``<think>...</think><answer>...</answer>`` format.

Timed (best of ``--repeat`` runs, seconds of wall time on this machine):

* format: `format_reward` on the 4,096 responses;
* mcq: `extract_choice` + `mcq_accuracy` on 4,096 multiple-choice responses;
* embedding [BACKEND]: `NEPReward` (similarity only) from a cold reference cache - answer
  extraction, de-duplication, encoding, cosine - target >= 500 responses/s; one row per
  backend of ``--backends`` (default: ``torch``, the PyTorch reference, then ``onnx`` and
  ``onnx-int8``, ONNX Runtime on the cached export; see `nextevent.rewards.backends`), each
  ONNX backend followed by its speed-up over ``torch`` (target >= 2x) and the agreement
  of its 4,096 similarity scores with ``torch``'s (Pearson >= 0.999, max |difference|);
* reference: raw ``SentenceTransformer.encode`` of the same unique texts the reward
  encodes, plus the cosine, with no wrapper: embedding time / reference time is our
  overhead;
* naive (``--naive``, slow): raw encode of all 4,096 predictions and 4,096 references,
  one per pair, as a reward written without de-duplication or caching would do;
* ROUGE-L: `rouge_l` on the 4,096 (answer, reference) pairs;
* compute ceiling: the matrix-multiply work of the encoder for the unique texts'
  tokens (2 x the weights of its linear layers per token, no padding, attention left
  out) divided by the GEMM rate measured in this run on the same shapes: no fp32
  implementation of this model on this machine can beat it.

The load average of the machine is printed before and after the timed runs.

    python benchmarks/bench_rewards.py
    python benchmarks/bench_rewards.py --repeat 5 --batch-size 64 --naive
    python benchmarks/bench_rewards.py --backends torch,onnx
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from nextevent.rewards import NEPReward, extract_choice, format_reward, mcq_accuracy, rouge_l
from nextevent.rewards.backends import BACKENDS, cpu_threads
from nextevent.rewards.embedding import DEFAULT_BATCH_SIZE, load_sentence_model
from nextevent.rewards.format import prediction_text
from nextevent.sources import load_annotations

HERE = Path(__file__).resolve().parent
ACTIVITYNET = HERE.parent / "tests" / "data" / "annotations" / "activitynet_val_subset.json"
TARGET = 500.0  # responses per second, embedding reward (issue 4)
SPEEDUP_TARGET, PEARSON_TARGET = 2.0, 0.999  # faster backend vs torch (issue 17)


def grpo_batch(prompts: int, generations: int, seed: int) -> tuple[list[str], list[str]]:
    """(responses, references) for ``prompts`` x ``generations`` rollouts from ActivityNet."""
    videos = [a for a in load_annotations(ACTIVITYNET, "activitynet").annotations
              if len(a.events) >= 3]
    rng = random.Random(seed)
    rng.shuffle(videos)
    if len(videos) < prompts + 1:
        raise SystemExit(
            f"{ACTIVITYNET} has {len(videos)} videos with 3+ events; need {prompts + 1}"
        )
    chosen = videos[:prompts]
    responses, references = [], []
    for n, video in enumerate(chosen):
        texts = [e.text for e in video.events]
        k = len(texts) // 2
        past, future = texts[:k], texts[k:]
        other = [e.text for e in chosen[(n + 1) % len(chosen)].events]
        reference = " ".join(future)
        words = reference.split()
        candidates = [
            future[0], reference, past[-1], " ".join(other[k:]) or other[-1],
            future[-1], other[0], " ".join(words[: max(1, len(words) // 2)]), " ".join(past),
        ]
        for g in range(generations):
            answer = candidates[g % len(candidates)]
            think = " ".join(past) + " So next:"
            responses.append(f"<think>{think}</think>\n<answer>{answer}</answer>" if g % 2 == 0
                             else answer)
            references.append(reference)
    return responses, references


def mcq_batch(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` multiple-choice responses in the shapes models give, with answer letters."""
    rng = random.Random(seed)
    shapes = [
        "{l}", "The answer is {l}.", "Answer: {l}", "({l}) The man keeps running.",
        "<think>Based on the video, the next event is the jump.</think><answer>{l}</answer>",
        "Based on the video, the best answer is {l} because the man picks up the ball.",
        "A man walks in and sits down, then he opens a book and starts reading it aloud.",
        "**{l}**",
    ]
    responses = [rng.choice(shapes).format(l=rng.choice("ABCD")) for _ in range(n)]
    return responses, [rng.choice("ABCD") for _ in range(n)]


def best_times(repeat: int, jobs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Smallest wall time (s) of each job over ``repeat`` rounds, the jobs interleaved in
    each round (the machine is shared: noise only adds, and hits all rows alike)."""
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeat):
        for name, fn in jobs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def compute_ceiling(model: object, texts: list[str]) -> tuple[float, int, float]:
    """(seconds, tokens, GFLOP/s): the encoder's linear-layer work for ``texts`` at the
    GEMM rate measured now on its first layer's weight shapes (fp32, all torch threads)."""
    import torch

    encoder = model[0].model  # type: ignore[index]
    linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    flop_per_token = 2 * sum(m.weight.numel() for m in linears)
    tokenizer = model.tokenizer  # type: ignore[attr-defined]
    limit = model.max_seq_length  # type: ignore[attr-defined]
    n_tokens = sum(min(limit, len(ids)) for ids in tokenizer(texts)["input_ids"])
    layer = encoder.encoder.layer[0]
    weights = [m.weight.detach().t().contiguous() for m in layer.modules()
               if isinstance(m, torch.nn.Linear)]
    inputs = {w.shape[0]: torch.randn(2048, w.shape[0]) for w in weights}
    with torch.inference_mode():
        for w in weights:  # warm-up
            inputs[w.shape[0]] @ w
        work, start = 0, time.perf_counter()
        for _ in range(5):
            for w in weights:
                inputs[w.shape[0]] @ w
                work += 2 * 2048 * w.shape[0] * w.shape[1]
        rate = work / (time.perf_counter() - start)
    return n_tokens * flop_per_token / rate, n_tokens, rate / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--prompts", type=int, default=512, help="prompts per GRPO batch (count)")
    add("--generations", type=int, default=8, help="responses per prompt (count)")
    add("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="texts per forward pass (count)")
    add("--repeat", type=int, default=3, help="timed runs per row; best kept (count)")
    add("--seed", type=int, default=0, help="text sampling seed")
    add("--naive", action="store_true", help="also time encoding every pair (slow)")
    add("--backends", default=",".join(BACKENDS),
        help="embedding backends to time, comma-separated; torch is always timed first")
    args = parser.parse_args()
    backends = ["torch", *dict.fromkeys(b.strip() for b in args.backends.split(",")
                                        if b.strip() and b.strip() != "torch")]

    import numpy as np
    import torch

    responses, references = grpo_batch(args.prompts, args.generations, args.seed)
    mcq_responses, mcq_answers = mcq_batch(len(responses), args.seed)
    n = len(responses)
    model = load_sentence_model()
    model.encode(["warm up the model"] * 8, batch_size=8)  # first-call set-up out of the timing

    answers = [prediction_text(r) for r in responses]
    unique = list(dict.fromkeys(answers)) + list(dict.fromkeys(references))

    def raw_encode(texts: list[str]) -> torch.Tensor:
        with torch.inference_mode():
            return model.encode(texts, batch_size=args.batch_size, convert_to_tensor=True,
                                normalize_embeddings=True, show_progress_bar=False)

    def reference() -> None:
        emb = raw_encode(unique)
        row = {t: i for i, t in enumerate(unique)}  # answers first, references after
        a = emb[torch.tensor([row[t] for t in answers])]
        b = emb[torch.tensor([len(unique) - 1 - unique[::-1].index(t) for t in references])]
        (a * b).sum(dim=1).clamp(0, 1).tolist()

    def naive() -> None:
        a, b = raw_encode(answers), raw_encode(references)
        (a * b).sum(dim=1).clamp(0, 1).tolist()

    def ours(backend: str) -> list[float]:  # a fresh reward each run: cold reference cache
        reward = NEPReward({"similarity": 1.0}, batch_size=args.batch_size, backend=backend)
        return reward.scores(responses, references)

    scores, load_s = {}, {}
    for backend in backends:  # load (ONNX: export on the first run, then cached) untimed
        start = time.perf_counter()
        scores[backend] = np.array(ours(backend))
        load_s[backend] = time.perf_counter() - start
    jobs: dict[str, Callable[[], object]] = {
        "format": lambda: [format_reward(r) for r in responses],
        "mcq": lambda: [mcq_accuracy(r, a)
                        for r, a in zip(mcq_responses, mcq_answers, strict=True)],
        **{f"embedding [{b}]": (lambda b=b: ours(b)) for b in backends},
        "  reference: raw encode": reference,
        "  naive: encode every pair": naive,
        "rouge-l": lambda: [rouge_l(a, r) for a, r in zip(answers, references, strict=True)],
    }
    if not args.naive:
        del jobs["  naive: encode every pair"]
    load_before = os.getloadavg()
    times = best_times(args.repeat, jobs)
    load_after = os.getloadavg()
    ceiling, n_tokens, gflops = compute_ceiling(model, unique)
    times["  compute ceiling (fp32)"] = ceiling
    letters = sum(extract_choice(r) is not None for r in mcq_responses)
    print(f"GRPO batch: {args.prompts} prompts x {args.generations} = {n} responses; "
          f"{len(unique)} unique texts to embed; torch threads {torch.get_num_threads()}; "
          f"MCQ responses with a letter: {letters}/{n}")
    print(f"tokens to embed: {n_tokens} ({n_tokens / len(unique):.1f} per text); "
          f"GEMM rate measured now: {gflops:.0f} GFLOP/s; ONNX worker threads {cpu_threads()}")
    print(f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; first call (load/export, "
          f"untimed): " + ", ".join(f"{b} {s:.1f} s" for b, s in load_s.items()))
    print(f"{'reward':28} {'seconds':>9} {'responses/s':>12} {'/ 500 target':>13}")
    for name, seconds in times.items():
        rate = n / seconds
        print(f"{name:28} {seconds:9.3f} {rate:12.0f} {rate / TARGET:12.2f}x")
    torch_s = times["embedding [torch]"]
    for backend in backends[1:]:
        speedup = torch_s / times[f"embedding [{backend}]"]
        a, b = scores[backend], scores["torch"]
        pearson = float(np.corrcoef(a, b)[0, 1])
        ok = speedup >= SPEEDUP_TARGET and pearson >= PEARSON_TARGET
        print(f"{backend} vs torch: {speedup:.2f}x the responses/s (target >= "
              f"{SPEEDUP_TARGET:.0f}x); similarity of the {n} responses: Pearson {pearson:.6f} "
              f"(target >= {PEARSON_TARGET}), max |difference| {np.abs(a - b).max():.2e}, "
              f"mean {np.abs(a - b).mean():.2e}: {'met' if ok else 'NOT met'}")
    print(f"embedding [torch] overhead vs raw encode of the same texts: "
          f"{torch_s / times['  reference: raw encode']:.2f}x the time; "
          f"at {ceiling / torch_s:.0%} of the fp32 compute ceiling")
    if args.naive:
        print(f"speed-up vs encoding every pair: "
              f"{times['  naive: encode every pair'] / times['embedding']:.2f}x")


if __name__ == "__main__":
    main()
