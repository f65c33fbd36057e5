#!/usr/bin/env python3
"""Print criterion's estimates of one bench target as a Markdown table.

    cargo bench -p tollgate --bench translate
    bench/criterion-table.py translate host/benches/translate.rs > bench/results/criterion-translate.md

Reads target/criterion/<group>/<bench>/new/estimates.json (criterion's own output) for
every benchmark id listed in the bench source's order of appearance; µs, mean time per
iteration as [low, estimate, high] of criterion's confidence interval.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    name, source = sys.argv[1], sys.argv[2]
    crit = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "criterion")
    rows = []
    for dirpath, _dirs, files in os.walk(crit):
        if "estimates.json" in files and os.path.basename(dirpath) == "new":
            rel = os.path.relpath(os.path.dirname(dirpath), crit)
            if rel.startswith("report"):
                continue
            with open(os.path.join(dirpath, "estimates.json")) as f:
                mean = json.load(f)["mean"]
            ci = mean["confidence_interval"]
            bench_json = os.path.join(dirpath, "benchmark.json")
            full = rel
            if os.path.exists(bench_json):
                with open(bench_json) as f:
                    full = json.load(f).get("full_id", rel)
            rows.append((full, ci["lower_bound"] / 1e3, mean["point_estimate"] / 1e3, ci["upper_bound"] / 1e3, os.path.getmtime(os.path.join(dirpath, "estimates.json"))))
    with open(os.path.join(ROOT, source)) as f:
        text = f.read()
    groups = set(re.findall(r'benchmark_group\("([^"]+)"\)', text))
    rows = [r for r in rows if r[0].split("/")[0] in groups]
    if not rows:
        print(f"no criterion results for {name} under {crit}", file=sys.stderr)
        return 1
    order = {g: text.find(f'benchmark_group("{g}")') for g in groups}
    rows.sort(key=lambda r: (order[r[0].split("/")[0]], r[4]))
    print(f"# `cargo bench -p tollgate --bench {name}`\n")
    print("Criterion's [low, estimate, high] of the mean time per iteration, µs")
    print(f"(pooled plugin instances, no network, hot caches). See `{source}`.\n")
    print("| benchmark | low | estimate | high |")
    print("|---|---|---|---|")
    for full, lo, est, hi, _ in rows:
        print(f"| `{full}` | {lo:.3f} | {est:.3f} | {hi:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
