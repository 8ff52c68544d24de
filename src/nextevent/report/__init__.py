"""The HTML report of a run: counts, failures, distributions, model usage, evaluation and
contact sheets, as one static page that opens from disk.

Public API (import from the modules; this package imports nothing, so the CLI starts
fast)::

    build.build_report(run_dir, out_dir, *, bench_path=None, eval_path=None, samples=6,
                       seed=0, frames_per_side=4) -> ReportResult
    contact_sheet.write_contact_sheet(record, run_dir, out_path, *, frames_per_side=4,
                                      tile_height=120, posters=False) -> ContactSheet
    browser.check_page(html, *, screenshot=None, width=1280, max_height=None,
                       timeout_s=60.0) -> PageCheck

Command: ``nextevent report RUN_DIR [--bench BENCH.jsonl] [--eval EVAL.json] --out DIR``.
Modules: `summary` (reading inputs), `plots` (matplotlib), `contact_sheet` (PIL),
`html` (the page), `build` (the folder), `browser` (headless chromium check).
"""
