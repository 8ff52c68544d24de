"""Write the annotation subsets under ``tests/data/annotations`` from the public files.

Usage: ``python scripts/subset_annotations.py SRC_DIR tests/data/annotations`` where
SRC_DIR holds ``activitynet_captions/val.json``, ``charades_sta/charades_sta_test.txt``,
``charades_sta/Charades_v1_test_lengths.csv`` and ``tacos/test.json`` as redistributed in
microsoft/2D-TAN's ``data/`` folder. Seeded: the same sources give the same subsets.
Every video with a quirk the importers must handle (events out of order, events ending
after the duration), every video the tests name and Charades' first video (repeated
queries for one span) is kept; the rest is a seeded random sample.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

ANET_VIDEOS = 1000
CHARADES_VIDEOS = 400
TACOS_VIDEOS = 6
NAMED = {  # videos the tests name (spot checks, reward examples)
    "v_bXdq2zI1Ms0", "v_gOniW-yEZ0k", "v_--6bJUbfpnQ", "v_-01K1HxqPB8", "v_-02DygXbn6w",
    "v_-0r0HEwAYiQ", "v_-2VzSMAdzl4", "v_-5c9WHk408g", "v_-76d-7Ju7L0", "v_-7eQ2bHNPUw",
}


def main(src: Path, out: Path) -> None:
    rng = random.Random(20261201)
    out.mkdir(parents=True, exist_ok=True)

    anet = json.loads((src / "activitynet_captions" / "val.json").read_text())
    quirky = [v for v, a in anet.items() if a["timestamps"] != sorted(a["timestamps"])
              or any(e > a["duration"] for _, e in a["timestamps"]) or v in NAMED]
    rest = [v for v in anet if v not in set(quirky)]
    keep = set(quirky) | set(rng.sample(rest, ANET_VIDEOS - len(quirky)))
    sub = {v: a for v, a in anet.items() if v in keep}  # source order kept
    (out / "activitynet_val_subset.json").write_text(json.dumps(sub, ensure_ascii=False))

    lines = (src / "charades_sta" / "charades_sta_test.txt").read_text().splitlines()
    vids = sorted({ln.split()[0] for ln in lines if ln.strip()})
    first = lines[0].split()[0]  # the file's first video: repeated queries for one span
    keepc = {first} | set(rng.sample([v for v in vids if v != first], CHARADES_VIDEOS - 1))
    (out / "charades_sta_test_subset.txt").write_text(
        "\n".join(ln for ln in lines if ln.strip() and ln.split()[0] in keepc) + "\n")
    with (src / "charades_sta" / "Charades_v1_test_lengths.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["id"] in keepc]
    with (out / "charades_v1_test_lengths_subset.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "length"])
        w.writeheader()
        w.writerows({"id": r["id"], "length": r["length"]} for r in rows)

    tacos = json.loads((src / "tacos" / "test.json").read_text())
    names = sorted(tacos)
    named = {"s30-d52.avi"}  # the frames-to-seconds spot check
    keept = named | set(rng.sample([n for n in names if n not in named], TACOS_VIDEOS - 1))
    (out / "tacos_test_subset.json").write_text(
        json.dumps({k: v for k, v in tacos.items() if k in keept}, ensure_ascii=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
