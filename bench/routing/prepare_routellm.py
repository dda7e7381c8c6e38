#!/usr/bin/env python3
"""Turn the RouteLLM per-question outcomes into train / val / test JSON Lines for Tandem's router.

Input (read-only, never copied into the repository): the RouteLLM evaluation data, one folder with
  mmlu/mmlu_<domain>.csv   columns: prompt, <weak model> (True/False), <strong model> (True/False)
  gsm8k_responses.csv      columns: prompt, <weak>, <strong>, <weak>_response, <strong>_response
(weak = Mixtral-8x7B-Instruct-v0.1, strong = gpt-4-1106-preview).

Output, in --out DIR, one JSON object a line:
  {"prompt": str, "weak_correct": bool, "strong_correct": bool, "domain": "mmlu_<name>" | "gsm8k"}
  train.jsonl       MMLU rows of the training domains, minus the validation rows
  val.jsonl         a deterministic ~10% of the training domains' rows (by a hash of the prompt)
  test_mmlu.jsonl   every row of the held-out MMLU domains (never trained or tuned on)
  test_gsm8k.jsonl  all of GSM8K (a held-out domain: no GSM8K row is in train or val)
  gsm8k_own_train.jsonl, gsm8k_own_test.jsonl
                    GSM8K halved by a hash of the prompt: a router trained on one half (a user's
                    own traffic of that kind) and tested on the other, never mixed with the above
  split.json        which domains went where, row counts, skipped rows

The split is by domain, so the MMLU test measures transfer to unseen subjects, and GSM8K measures
transfer to a different kind of task. Held-out MMLU domains: sort the domain names, take every
--heldout-every-th one starting at index --heldout-offset (defaults 3 and 2: 12 of 38, ~32%).
A few prompts occur in two MMLU files (e.g. clinical_knowledge and college_medicine share
questions); a train/val row whose prompt also occurs in a test file is dropped (and counted), so
no test prompt is ever trained on.

    python3 bench/routing/prepare_routellm.py --out build/routing-data

Standard library only.
"""

import argparse
import collections
import csv
import hashlib
import json
import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "routellm"
DEFAULT_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
DEFAULT_STRONG = "gpt-4-1106-preview"

TRUE_WORDS = {"true", "t", "yes", "y", "1", "1.0"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "0.0"}


def parse_bool(value):
    """'True'/'False' (any case, surrounding space, 1/0, yes/no) -> bool; anything else -> None."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


def read_outcomes(path, domain, weak_col, strong_col, skipped):
    """Rows of one CSV as dicts; rows with a missing/unparseable field are counted in skipped."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("prompt", weak_col, strong_col) if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: no column(s) {missing}; columns are {reader.fieldnames}")
        for row in reader:
            prompt = row.get("prompt")
            weak = parse_bool(row.get(weak_col))
            strong = parse_bool(row.get(strong_col))
            if prompt is None or not prompt.strip():
                skipped[domain, "empty prompt"] += 1
                continue
            if weak is None or strong is None:
                skipped[domain, "missing/invalid correctness"] += 1
                continue
            rows.append({"prompt": prompt, "weak_correct": weak, "strong_correct": strong,
                         "domain": domain})
    return rows


def in_val(prompt, val_percent):
    """Deterministic across runs and machines (not Python's salted hash())."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < val_percent


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def stats(rows):
    n = len(rows)
    if n == 0:
        return {"rows": 0}
    weak = sum(r["weak_correct"] for r in rows)
    strong = sum(r["strong_correct"] for r in rows)
    need = sum((not r["weak_correct"]) and r["strong_correct"] for r in rows)
    oracle = sum(r["weak_correct"] or r["strong_correct"] for r in rows)
    return {"rows": n, "domains": len({r["domain"] for r in rows}),
            "weak_accuracy": weak / n, "strong_accuracy": strong / n,
            # share of rows where only the strong model is right: what a perfect router escalates
            "strong_only": need / n, "oracle_accuracy": oracle / n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA,
                    help=f"RouteLLM data folder (default: {DEFAULT_DATA})")
    ap.add_argument("--out", type=pathlib.Path, required=True, help="output folder (created)")
    ap.add_argument("--weak-model", default=DEFAULT_WEAK, help="weak model's column name")
    ap.add_argument("--strong-model", default=DEFAULT_STRONG, help="strong model's column name")
    ap.add_argument("--heldout-every", type=int, default=3)
    ap.add_argument("--heldout-offset", type=int, default=2)
    ap.add_argument("--val-percent", type=int, default=10)
    args = ap.parse_args()

    csv.field_size_limit(1 << 30)  # GSM8K responses are long fields
    data = args.data_dir
    mmlu_files = sorted((data / "mmlu").glob("mmlu_*.csv"))
    gsm8k_file = data / "gsm8k_responses.csv"
    if not mmlu_files or not gsm8k_file.exists():
        sys.exit(f"{data}: expected mmlu/mmlu_*.csv and gsm8k_responses.csv")

    domains = sorted(p.stem for p in mmlu_files)  # "mmlu_<name>"
    heldout = [d for i, d in enumerate(domains)
               if i >= args.heldout_offset and (i - args.heldout_offset) % args.heldout_every == 0]
    heldout_set = set(heldout)

    skipped = collections.Counter()
    per_domain = {}
    for path in mmlu_files:
        per_domain[path.stem] = read_outcomes(path, path.stem, args.weak_model,
                                              args.strong_model, skipped)
    gsm8k = read_outcomes(gsm8k_file, "gsm8k", args.weak_model, args.strong_model, skipped)

    test_mmlu = [r for d in domains if d in heldout_set for r in per_domain[d]]
    test_prompts = {r["prompt"] for r in test_mmlu} | {r["prompt"] for r in gsm8k}
    train, val = [], []
    leaked = collections.Counter()
    for d in domains:
        if d in heldout_set:
            continue
        for r in per_domain[d]:
            if r["prompt"] in test_prompts:
                leaked[d] += 1
                continue
            (val if in_val(r["prompt"], args.val_percent) else train).append(r)

    args.out.mkdir(parents=True, exist_ok=True)
    files = {"train.jsonl": train, "val.jsonl": val,
             "test_mmlu.jsonl": test_mmlu, "test_gsm8k.jsonl": gsm8k,
             "gsm8k_own_train.jsonl": [r for r in gsm8k if not in_val(r["prompt"], 50)],
             "gsm8k_own_test.jsonl": [r for r in gsm8k if in_val(r["prompt"], 50)]}
    for name, rows in files.items():
        write_jsonl(args.out / name, rows)

    summary = {
        "data_dir": str(data.resolve()),
        "weak_model": args.weak_model, "strong_model": args.strong_model,
        "rule": f"MMLU domains sorted by name; held out: index {args.heldout_offset}, "
                f"+{args.heldout_every}, ...; val: sha256(prompt)[:8] mod 100 < {args.val_percent}",
        "train_domains": [d for d in domains if d not in heldout_set],
        "heldout_mmlu_domains": heldout,
        "dropped_train_rows_whose_prompt_is_in_test": dict(leaked),
        "skipped_rows": {f"{d}: {why}": n for (d, why), n in sorted(skipped.items())},
        "files": {name: stats(rows) for name, rows in files.items()},
    }
    with open(args.out / "split.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    print(f"MMLU domains: {len(domains)}; held out ({len(heldout)}, "
          f"{100 * len(heldout) / len(domains):.0f}%): {', '.join(heldout)}")
    print(f"skipped rows (missing values): {sum(skipped.values())}"
          + "".join(f"\n  {d}: {why}: {n}" for (d, why), n in sorted(skipped.items())))
    print(f"train/val rows dropped because the prompt is also in a test file: {sum(leaked.values())}"
          + (f" ({', '.join(f'{d} {n}' for d, n in sorted(leaked.items()))})" if leaked else ""))
    print()
    print("| file | rows | domains | weak acc | strong acc | strong-only | oracle acc |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rows in files.items():
        s = stats(rows)
        if not s["rows"]:
            print(f"| {name} | 0 | 0 | - | - | - | - |")
            continue
        print(f"| {name} | {s['rows']} | {s['domains']} | {s['weak_accuracy']:.3f} | "
              f"{s['strong_accuracy']:.3f} | {s['strong_only']:.3f} | {s['oracle_accuracy']:.3f} |")
    print(f"\nwrote {', '.join(files)} and split.json to {args.out}")


if __name__ == "__main__":
    main()
