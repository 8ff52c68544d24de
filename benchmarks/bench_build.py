"""Build time against one plain decode pass of the same videos, measured in one run.

Inputs: the two sample videos (``examples/sample_events.jsonl``), and a synthetic
1280x720 H.264 video made by `make_videos.py` in its ``natural`` style (pink-noise
texture, moving camera and object, grain; libx264 defaults, so keyframes sit on most hard
cuts and at most 250 frames apart; mean shot ``--shot-seconds``), in two slice layouts:
2 slices per picture (what PyAV's encoder writes on 2 threads; the reference decode then
already runs on 2 cores: the target case) and 1 (what ``ffmpeg -c:v libx264`` writes; a
plain decode runs on one core). The 2-slice video is built twice, the 1-slice one split
mid-shot only, smart and fast:

* *split mid-shot*: events whose boundaries lie halfway between shot changes, so no split
  can snap onto a shot change (or keyframe) and a smart cut must re-encode the partial
  GOPs on both sides of it (the general case). Fast mode must cut on a keyframe: its
  planner may snap up to half the longest shot (the cut costs the same anywhere);
* *split on a shot change*: one event per shot (the planner snaps onto the shot change,
  where x264 put an IDR frame: a smart cut re-encodes nothing; the best case).

For each it times, median of ``--repeats`` rounds (interleaved: each round times every
column once):

* reference: one plain PyAV decode pass over every frame (PyAV's default decoder
  settings: slice threads, which use every core on the 2-slice video and one on the
  1-slice video; frames discarded), and for information the same decode with the
  threads nextevent picks (`nextevent.media._io.threaded`: slice threads when every
  picture has a slice per core, else frame threads);
* ``nextevent build`` (probe + events + shot detection + planning + cut, one worker,
  fresh run directory, one record per video) in accurate, smart and fast cut mode (fast
  writes no record for bigbuckbunny.mp4: its only keyframe is its first frame);

and prints build / decode (the median over rounds of each build over a plain decode timed
just before it; target: smart <= 1.3x on the 720p videos), RTF
(seconds of video per wall second), the smart build's seconds per step
(`BuildSummary.stage_s` of the median run) and what each record's cut did (mode used, split,
re-encoded frames).

    python benchmarks/bench_build.py --long-seconds 120 --repeats 3
    python benchmarks/bench_build.py --long-seconds 120 --repeats 3 --video-dir /tmp/nv
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from argparse import ArgumentParser
from collections import defaultdict
from pathlib import Path

import av

from nextevent.media._io import decode
from nextevent.media.probe import probe
from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.planner import PlannerConfig
from nextevent.samples import copy_samples
from nextevent.sources import load_annotations

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "sample_events.jsonl"
MODES = ("accurate", "smart", "fast")
TARGET = 1.3
"""Smart build / one decode pass, on the 720p video split mid-shot."""


def decode_pass(paths: list[Path], threads: bool = False) -> float:
    """Seconds for one plain PyAV decode of every frame of ``paths`` (PyAV's defaults:
    slice threads only, so one thread on single-slice H.264); ``threads``: with the
    threads nextevent's own decodes pick (`nextevent.media._io.decode`)."""
    start = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for _ in (decode(container, stream) if threads else container.decode(stream)):
                pass
    return time.perf_counter() - start


def build_once(videos: Path, annotations: Path, run_dir: Path, mode: str,
               snap_s: float | None) -> tuple[float, dict[str, float], list[dict]]:
    """One ``nextevent build`` into a fresh ``run_dir``: (wall s, seconds per step, what
    each record's cut did)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    imported = load_annotations(annotations, "jsonl")
    planner = (PlannerConfig(splits_per_video=1) if snap_s is None
               else PlannerConfig(splits_per_video=1, snap_tolerance_s=snap_s))
    config = BuildConfig(run_dir=run_dir, cut_mode=mode,  # type: ignore[arg-type]
                         planner=planner)
    start = time.perf_counter()
    summary = run_build(imported.annotations, videos, config, workers=1, show_progress=False)
    elapsed = time.perf_counter() - start
    if summary.records_new == 0 or (mode != "fast"
                                    and summary.records_new != len(imported.annotations)):
        failures = (run_dir / "failures.jsonl").read_text()
        raise SystemExit(f"{mode} build wrote {summary.records_new} of "
                         f"{len(imported.annotations)} records:\n{failures}")
    cuts = []
    for line in (run_dir / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        cuts.append({"video": rec["video_id"], "mode_used": rec["cut_mode"],
                     "note": rec["cut_note"], "split_s": round(rec["split"]["split_s"], 3),
                     "snapped_to": rec["split"]["snapped_to"],
                     "frames": [rec["past"]["frame_count"], rec["future"]["frame_count"]],
                     "reencoded": [rec["past"]["reencoded_frames"],
                                   rec["future"]["reencoded_frames"]]})
    return elapsed, dict(summary.stage_s), cuts


def video_seconds(paths: list[Path]) -> float:
    return sum(probe(p).duration_s for p in paths)


def measure(videos: Path, cases: list[tuple[str, Path, tuple[str, ...]]], work: Path,
            repeats: int, fast_snap_s: dict[str, float] | None = None) -> list[dict]:
    """Rows of one set of videos: the decode references (plain, frame-threaded) and, per
    case ``(name, annotations, modes)``, the builds of ``modes``.

    Repeats are interleaved (each round times both decodes, then every build), so a burst
    of load from other jobs spreads over all columns instead of hitting one. Each build is
    also paired with a plain decode timed just before it: the ratio is the median over
    rounds of build / its paired decode, which a machine whose speed drifts from minute to
    minute (this VM: +-20 %) moves far less than a ratio of two medians taken up to a
    minute apart (given too, as ``{mode}_ratio_of_medians``). The other figures are
    medians over rounds; the seconds per step come from the run with the median wall
    time, so they add up to it."""
    paths = sorted(p for p in videos.iterdir() if p.suffix == ".mp4")
    seconds = video_seconds(paths)
    decodes: list[float] = []
    threaded: list[float] = []
    runs: dict[tuple[str, str], list] = defaultdict(list)
    paired: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(repeats):
        decodes.append(decode_pass(paths))
        threaded.append(decode_pass(paths, True))
        for name, ann, modes in cases:
            for mode in modes:
                snap = (fast_snap_s or {}).get(name) if mode == "fast" else None
                reference = decode_pass(paths)
                run = build_once(videos, ann, work / f"run_{mode}", mode, snap)
                runs[name, mode].append(run)
                paired[name, mode].append(run[0] / reference)
    decode = statistics.median(decodes)
    rows = []
    for name, _, modes in cases:
        row: dict = {"input": name, "video_s": round(seconds, 2),
                     "decode_s": round(decode, 3),
                     "decode_threaded_s": round(statistics.median(threaded), 3),
                     "decode_walls": [round(d, 2) for d in decodes]}
        for mode in modes:
            done = sorted(runs[name, mode], key=lambda r: r[0])
            wall, stage_s, cuts = done[len(done) // 2]
            row[f"{mode}_s"] = round(wall, 3)
            row[f"{mode}_ratio"] = round(statistics.median(paired[name, mode]), 2)
            row[f"{mode}_ratio_of_medians"] = round(wall / decode, 2)
            row[f"{mode}_paired_ratios"] = [round(r, 2) for r in paired[name, mode]]
            row[f"{mode}_rtf"] = round(seconds / wall, 1)
            row[f"{mode}_walls"] = [round(r[0], 2) for r in runs[name, mode]]
            row[f"{mode}_stage_s"] = {k: round(v, 3) for k, v in stage_s.items()}
            row[f"{mode}_cuts"] = cuts
        rows.append(row)
    return rows


def long_video(video_dir: Path, seconds: float, shot_s: float, slices: int
               ) -> tuple[Path, Path]:
    """The synthetic 720p video's folder and its one-event-per-shot annotations; made
    once per folder (``--video-dir`` keeps it between runs)."""
    from make_videos import make_dataset  # benchmarks/ is on sys.path when run directly

    folder = video_dir / f"natural_1280x720_{seconds:g}s_shot{shot_s:g}_slices{slices}"
    ann = folder / "events.jsonl"
    if not (folder / "truth.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_dataset(folder, count=1, seconds=seconds, width=1280, height=720,
                     shot_s=shot_s, style="natural", slices=slices)
    return folder, ann


def mid_shot_events(folder: Path, out: Path) -> Path:
    """Annotations whose event boundaries lie halfway between the shot changes."""
    truth = json.loads((folder / "truth.json").read_text())
    lines = []
    for vid, bounds in truth.items():
        duration = probe(folder / f"{vid}.mp4").duration_s
        edges = [0.0, *bounds, duration]
        mids = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        cuts = [0.0, *mids[:-1], duration]  # the last shot's midpoint would leave a sliver
        events = [{"start": round(a, 3), "end": round(b, 3),
                   "text": f"Part {j + 1} of the video, across a shot change."}
                  for j, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]
        lines.append(json.dumps({"video_id": vid, "duration": duration, "events": events}))
    out.write_text("\n".join(lines) + "\n")
    return out


def keyframe_line(path: Path) -> str:
    video = probe(path)
    keys = [*video.keyframes_s, video.duration_s]
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    return (f"{path.name}: {len(video.keyframes_s)} keyframes, interval mean "
            f"{statistics.mean(gaps):.2f} s, max {max(gaps):.2f} s")


def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-seconds", type=float, default=120.0,
                        help="duration of the synthetic 720p video, seconds")
    parser.add_argument("--shot-seconds", type=float, default=8.0,
                        help="its mean shot length, seconds (shots vary +-50%%)")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="cut modes to time, comma-separated (default: all three)")
    parser.add_argument("--video-dir", type=Path, default=None,
                        help="keep the synthetic video here and reuse it (default: a "
                        "temporary folder)")
    args = parser.parse_args()
    modes = tuple(m for m in MODES if m in args.modes.split(","))
    if not modes:
        parser.error(f"--modes: give some of {', '.join(MODES)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples = work / "samples"
        copy_samples(samples)
        synth, shot_ann = long_video(args.video_dir or work, args.long_seconds,
                                     args.shot_seconds, 2)
        single, _ = long_video(args.video_dir or work, args.long_seconds,
                               args.shot_seconds, 1)
        mid_ann = mid_shot_events(synth, work / "mid_shot_events.jsonl")
        single_ann = mid_shot_events(single, work / "mid_shot_events_1.jsonl")
        print(keyframe_line(synth / "synth_0000.mp4"))
        print(keyframe_line(single / "synth_0000.mp4"))
        long_name = f"synthetic 1280x720 {args.long_seconds:g} s"
        mid, on_shot = (f"{long_name} 2 slices, split mid-shot",
                        f"{long_name} 2 slices, split on a shot change")
        single_mid = f"{long_name} 1 slice, split mid-shot"
        snap = {name: 0.75 * args.shot_seconds for name in (mid, single_mid)}
        rows = measure(samples, [("samples (bunny 720p 5.3 s + bikes 272p 10 s)", EXAMPLES,
                                  modes)], work, args.repeats)
        on_shot_modes = tuple(m for m in ("smart", "fast") if m in modes)
        rows += measure(synth, [(mid, mid_ann, modes), (on_shot, shot_ann, on_shot_modes)],
                        work, args.repeats, fast_snap_s=snap)
        rows += measure(single, [(single_mid, single_ann, on_shot_modes)], work,
                        args.repeats, fast_snap_s=snap)
    print(json.dumps(rows, indent=1))
    print("\ninput | video s | decode s (nextevent's threads) | " + " | ".join(
        f"{m} s (/ decode, RTF)" for m in MODES))
    for r in rows:
        cells = [f"{r[f'{m}_s']} ({r[f'{m}_ratio']}x, {r[f'{m}_rtf']})" if f"{m}_s" in r
                 else "-" for m in MODES]
        print(f"{r['input']} | {r['video_s']} | {r['decode_s']} ({r['decode_threaded_s']}) | "
              + " | ".join(cells))
    if "smart" not in modes:
        return
    print("\nsmart build, seconds per step (the median run; media steps are worker time):")
    for r in rows:
        stages = r["smart_stage_s"]
        rest = r["smart_s"] - sum(stages.values())
        print(f"{r['input']}: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
              + f", outside the steps {rest:.2f}")
    print()
    for r in rows[1:]:
        ratio = r["smart_ratio"]
        print(f"target: smart build / decode <= {TARGET} on the {r['input']}: {ratio}x "
              f"(rounds {r['smart_paired_ratios']}, ratio of medians "
              f"{r['smart_ratio_of_medians']}x), {'pass' if ratio <= TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
