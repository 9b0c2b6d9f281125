#!/usr/bin/env python3
"""Compare drydock-secrets with detect-secrets on the same files, in one run.

Usage (from the workspace root):
    pip install detect-secrets
    python3 crates/drydock-secrets/bench/compare.py [--mb 8] [--keep DIR]

1. builds the `secrets_bench` example (release) and writes two data sets to a temp dir:
   - the benchmark mix: ~8 MB of generated source code, logs and lock files with planted
     secrets at recorded lines (the same generator as `cargo bench -p drydock-secrets`);
   - the labelled corpus: format-rule true positives and near misses, one case per file;
2. scans each with `secrets_bench scan` (drydock's built-in rules; best of 5 runs) and
   `detect-secrets scan --all-files` (its default plugins and filters; one run), timing both as
   wall-clock subprocesses;
3. prints a table: files, size, time, MB/s, findings, planted secrets found, false positives.

A finding is counted per (file, line). On the mix, every line that is not a planted secret is
generated to be clean, so any other finding is a false positive.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent


def target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else CRATE.parent.parent / "target"


def build() -> Path:
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "drydock-secrets", "--example", "secrets_bench"],
        check=True,
        cwd=CRATE,
    )
    return target_dir() / "release" / "examples" / "secrets_bench"


def timed(cmd, cwd=None):
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd)
    return time.perf_counter() - started, out.stdout


def drydock_scan(binary: Path, root: Path, runs: int = 5):
    # It takes a fraction of a second: the best of a few runs keeps other load on a shared
    # machine out of the figure (detect-secrets takes a minute per run and runs once).
    seconds, out = min((timed([str(binary), "scan", str(root)]) for _ in range(runs)), key=lambda r: r[0])
    report = json.loads(out)
    lines = {(f["path"], f["line"]) for f in report["findings"]}
    return seconds, lines


def detect_secrets_scan(root: Path):
    seconds, out = timed(["detect-secrets", "scan", "--all-files", "."], cwd=root)
    report = json.loads(out)
    lines = set()
    for path, results in report["results"].items():
        for result in results:
            lines.add((path, result["line_number"]))
    return seconds, lines


def size_of(root: Path, exclude=("manifest.json", "labels.json")):
    files = [p for p in root.rglob("*") if p.is_file() and p.name not in exclude]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="write the data sets here and keep them")
    args = parser.parse_args()
    if shutil.which("detect-secrets") is None:
        print("detect-secrets not found: pip install detect-secrets", file=sys.stderr)
        return 2
    version = subprocess.run(["detect-secrets", "--version"], capture_output=True, text=True).stdout.strip()
    binary = build()
    work = args.keep or Path(tempfile.mkdtemp(prefix="secrets-compare-"))
    mix, corpus = work / "mix", work / "corpus"
    for d in (mix, corpus):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    subprocess.run([str(binary), "gen", str(mix), str(args.mb)], check=True)
    subprocess.run([str(binary), "corpus", str(corpus)], check=True)
    manifest = json.loads((mix / "manifest.json").read_text())
    (mix / "manifest.json").unlink()
    planted = {(p["path"], p["line"]) for p in manifest["planted"]}
    labels = json.loads((corpus / "labels.json").read_text())
    (corpus / "labels.json").unlink()
    positives = {l["path"] for l in labels if l["kind"] == "positive"}
    negatives = {l["path"] for l in labels if l["kind"] == "negative"}

    rows = []
    for tool, scan in (("drydock-secrets", lambda r: drydock_scan(binary, r)), (f"detect-secrets {version}", detect_secrets_scan)):
        files, size = size_of(mix)
        seconds, lines = scan(mix)
        found = len(planted & lines)
        false_pos = len(lines - planted)
        _, corpus_lines = scan(corpus)
        flagged = {path for path, _ in corpus_lines}
        rows.append(
            {
                "tool": tool,
                "files": files,
                "mb": size / 1e6,
                "seconds": seconds,
                "mbps": size / 1e6 / seconds,
                "findings": len(lines),
                "planted": f"{found}/{len(planted)}",
                "fp": false_pos,
                "corpus_recall": f"{len(positives & flagged)}/{len(positives)}",
                "corpus_fp": f"{len(negatives & flagged)}/{len(negatives)}",
            }
        )
    print(f"\nBenchmark mix: {args.mb} MB generated (seed 42); labelled corpus: {len(positives)} positives, {len(negatives)} near misses\n")
    print("| tool | files | size (MB) | time (s) | MB/s | findings | planted found | false positives | corpus positives found | corpus near misses flagged |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['tool']} | {r['files']} | {r['mb']:.1f} | {r['seconds']:.2f} | {r['mbps']:.1f} | {r['findings']} | "
            f"{r['planted']} | {r['fp']} | {r['corpus_recall']} | {r['corpus_fp']} |"
        )
    print("\nTimes are wall-clock for the whole process (start-up included); drydock: best of 5 runs.")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
