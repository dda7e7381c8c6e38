#!/usr/bin/env python3
"""Knowledge-base throughput: the embedder against llama.cpp's own llama-embedding tool, and ingest.

    python3 bench/knowledge_throughput.py embedding --rounds 6
    python3 bench/knowledge_throughput.py ingest --files 20 --pages 10 --rounds 3
    python3 bench/knowledge_throughput.py encryption --rounds 3 --queries 20

`embedding` embeds every sentence of XQuAD en (one per line; ../shared/data/qa/xquad.en.json)
with `tandem_knowledge_bench embedding-throughput` and with `llama-embedding -f` (built from the
same llama.cpp source), same model, threads, context, batch and micro-batch, alternately (the
order flips every round), and reports the median of the per-round ratios Tandem / llama-embedding:

  decode   tokens / time spent embedding: Tandem's whole embed() call (tokenisation included)
           against llama-embedding's span from its first decode to the timings it prints after
           the last (read from its log's timestamps; tokenisation excluded), so Tandem's side is
           the stricter one
  process  tokens / wall time of the whole command (model load and exit included)
  cpu      tokens / CPU time of the whole command (user + system, all threads): with --threads 1
           the figure least moved by other processes on a shared machine (no thread waits at a
           barrier for one that lost its core)

llama-embedding's own "prompt eval time" is recorded too (prompt_eval_tps) but not compared: it
leaves out part of every decode (in our runs it gave 1.2-1.4 times the tokens/s of the span above).

Both sides must count the same tokens (checked): the same tokeniser on the same lines.
Writes bench/results/knowledge_embedding.{json,md}.

`ingest` generates a folder of multi-page PDFs (build/kb-ingest-pdfs: the XQuAD en paragraphs set
in 10-point Helvetica, about 50 lines a page), then per round parses it alone
(`tandem_knowledge_bench parse`: PDF pages/s of text extraction) and adds it to a fresh knowledge
base with `tandem kb add` (default settings, encryption at rest included: PDF pages/s and
chunks/s end to end, from the time kb add reports, model load excluded), each also per CPU
second of the process (all threads; start-up included for kb add). Writes
bench/results/knowledge_ingest.{json,md}.

`encryption` is the user's view of encryption at rest: the XQuAD en paragraphs as one .txt file
each (build/kb-encryption-texts), added with `tandem kb add` to a fresh data directory, then the
first --queries XQuAD questions asked one `tandem kb search` process each (default hybrid mode),
with the data directory encrypted (security.encryption=passphrase, TANDEM_PASSPHRASE, a keyring of
its own) and in clear (off), alternately (the order flips every round). Wall and CPU time (user +
system of the commands, all threads) per side, and the medians of the per-round ratios encrypted /
clear. Writes bench/results/knowledge_encryption.{json,md}. Standard library only.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import resource
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import median, run_measured, wait_for_quiet, write_xquad_sentences

ROOT = pathlib.Path(__file__).resolve().parent.parent
QA = ROOT.parent / "shared" / "data" / "qa"
MODELS = pathlib.Path.home() / ".cache" / "tandem" / "models"


def timed(cmd, timeout, env=None):
    """(completed process, wall seconds, CPU seconds, share of the CPUs other processes used meanwhile)."""
    print("  $ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    start = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc, others = run_measured(cmd, timeout, env)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-4000:]}")
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return proc, wall, cpu, others


def tandem_embedding(args):
    cmd = [args.bin / "tandem_knowledge_bench", "embedding-throughput", args.model, args.text, args.threads, args.batch]
    proc, wall, cpu, others = timed(cmd, args.timeout)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"tokens": out["tokens"], "decode_tps": out["tokens_per_s"], "process_tps": out["tokens"] / wall,
            "cpu_tps": out["tokens"] / cpu, "wall_s": wall, "others_busy": others}


MEASURES = ("decode", "process", "cpu")
PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
LOG_TIME = r"^(\d+)\.(\d+)\.(\d+)\.(\d+) I "  # llama.cpp's log prefix: minutes.seconds.ms.us since start


def log_time(pattern, log):
    found = re.search(LOG_TIME + pattern, log, re.MULTILINE)
    if not found:
        sys.exit(f"llama-embedding logged no '{pattern}'")
    minutes, seconds, ms, us = (int(g) for g in found.groups())
    return minutes * 60 + seconds + ms / 1e3 + us / 1e6


def llama_embedding(args):
    # -v: llama.cpp's timings are logged at the verbose level; "none" prints no vectors.
    cmd = [args.bin / "llama-embedding", "-m", args.model, "-f", args.text, "-t", args.threads, "-c", args.context,
           "-b", args.batch, "-ub", args.batch, "--embd-output-format", "none", "-v"]
    proc, wall, cpu, others = timed(cmd, args.timeout)
    log = proc.stdout + proc.stderr
    found = PROMPT_EVAL.search(log)
    if not found:
        sys.exit("llama-embedding printed no prompt eval time")
    prompt_eval_ms, tokens = float(found.group(1)), int(found.group(2))
    # From the first decode (tokenisation done) to the timings printed after the last one: the
    # same span as Tandem's embed() call, less its tokenisation.
    embed_s = log_time("llama_perf_context_print:", log) - log_time("batch_decode:", log)
    return {"tokens": tokens, "decode_tps": tokens / embed_s, "process_tps": tokens / wall, "cpu_tps": tokens / cpu,
            "wall_s": wall, "prompt_eval_tps": tokens / (prompt_eval_ms / 1000), "others_busy": others}


def embedding(args):
    args.text = ROOT / "build" / "knowledge-bench-sentences.txt"
    write_xquad_sentences(QA / "xquad.en.json", args.text)
    if args.sentences:
        args.text = ROOT / "build" / f"knowledge-bench-sentences-{args.sentences}.txt"
        lines = (ROOT / "build" / "knowledge-bench-sentences.txt").read_text(encoding="utf-8").split("\n")
        args.text.write_text("\n".join(lines[:args.sentences]), encoding="utf-8")
    rounds = []
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
        order = (llama_embedding, tandem_embedding) if i % 2 == 0 else (tandem_embedding, llama_embedding)
        results = {}
        for run in order:
            wait_for_quiet(args.max_busy, args.max_wait)
            results[run.__name__] = run(args)
        llama, tandem = results["llama_embedding"], results["tandem_embedding"]
        if llama["tokens"] != tandem["tokens"]:
            sys.exit(f"token counts differ: llama-embedding {llama['tokens']}, Tandem {tandem['tokens']}")
        r = {"llama": llama, "tandem": tandem, "clean": max(llama["others_busy"], tandem["others_busy"]) <= args.clean,
             "decode_ratio": tandem["decode_tps"] / llama["decode_tps"],
             "process_ratio": tandem["process_tps"] / llama["process_tps"],
             "cpu_ratio": tandem["cpu_tps"] / llama["cpu_tps"]}
        rounds.append(r)
        print(f"  decode: llama-embedding {llama['decode_tps']:.0f} t/s, Tandem {tandem['decode_tps']:.0f} t/s, "
              f"ratio {r['decode_ratio']:.3f}; process ratio {r['process_ratio']:.3f}, CPU time ratio "
              f"{r['cpu_ratio']:.3f} (others busy "
              f"{llama['others_busy']:.0%} / {tandem['others_busy']:.0%})", file=sys.stderr, flush=True)

    def medians(rs):
        return {f"{measure}_ratio": median([r[f"{measure}_ratio"] for r in rs]) for measure in MEASURES} | {
            f"{side}_{measure}_tps": median([r[side][f"{measure}_tps"] for r in rs])
            for side in ("llama", "tandem") for measure in MEASURES}

    clean = [r for r in rounds if r["clean"]]
    summary = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cores": os.cpu_count(),
               "model": str(args.model), "text": str(args.text), "tokens": rounds[0]["tandem"]["tokens"],
               "threads": args.threads, "context": args.context, "batch": args.batch, "ubatch": args.batch,
               "rounds": len(rounds), "clean_rounds": len(clean), "clean_threshold": args.clean,
               "median": medians(rounds), "median_clean": medians(clean) if clean else None, "rounds_detail": rounds}
    lines = [f"Embedding: Tandem vs llama-embedding, {args.model.name}, {summary['tokens']} tokens of XQuAD en "
             f"sentences, -t {args.threads} -c {args.context} -b/-ub {args.batch}, {len(rounds)} alternating rounds "
             f"({len(clean)} clean); medians; {summary['date']}", "",
             "| rounds | measure | llama-embedding t/s | Tandem t/s | Tandem / llama-embedding |", "|---|---|---|---|---|"]
    for label, rs in (("all", rounds), ("clean", clean)):
        if not rs:
            continue
        m = medians(rs)
        for measure in MEASURES:
            lines.append(f"| {label} ({len(rs)}) | {measure} | {m[f'llama_{measure}_tps']:.0f} | "
                         f"{m[f'tandem_{measure}_tps']:.0f} | {m[f'{measure}_ratio']:.3f} |")
    lines.append("")
    lines.append("Per-round decode ratios: " + ", ".join(
        f"{r['decode_ratio']:.3f}" + ("" if r["clean"] else "*") for r in rounds) + " (* = not clean)")
    write_results(args.out, summary, lines)


def pdf_text(text):
    """A PDF string literal body: WinAnsi bytes with its three special characters escaped."""
    raw = text.encode("cp1252", errors="replace").decode("latin-1")
    return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages, title):
    """A PDF whose pages are lists of paragraphs, each a list of lines: one text object per page, 14
    points between lines and a blank line between paragraphs (poppler's text blocks)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [" + " ".join(f"{5 + 2 * i} 0 R" for i in range(len(pages))) +
               f"] /Count {len(pages)} >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               f"<< /Title ({pdf_text(title)}) >>"]
    for i, paragraphs in enumerate(pages):
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {6 + 2 * i} 0 R >>")
        ops = ["BT /F1 10 Tf 14 TL 50 750 Td"]
        for paragraph in paragraphs:
            ops += [f"({pdf_text(line)}) Tj T*" for line in paragraph] + ["T*"]
        stream = "\n".join(ops + ["ET"]).encode("latin-1")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + (body if isinstance(body, bytes) else body.encode("latin-1")) + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdfs(folder, files, pages_per_file, squad_file):
    """`files` PDFs of `pages_per_file` US-letter pages of 10-point text (about 50 lines, 4 KB of text
    a page): the paragraphs of `squad_file` in order, wrapped at 100 characters, each page headed by
    its file and page number so that no two pages are the same."""
    import textwrap

    paragraphs = [textwrap.wrap(p["context"], 100) for a in json.load(open(squad_file, encoding="utf-8"))["data"]
                  for p in a["paragraphs"]]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.pdf"):
        old.unlink()
    lines_per_page = 50
    next_paragraph = 0
    for f in range(files):
        pages = []
        for p in range(pages_per_file):
            page = [[f"Report {f + 1}, page {p + 1}"]]
            used = 2
            while used + len(paragraphs[next_paragraph % len(paragraphs)]) + 1 <= lines_per_page:
                page.append(paragraphs[next_paragraph % len(paragraphs)])
                used += len(page[-1]) + 1
                next_paragraph += 1
            pages.append(page)
        (folder / f"report-{f + 1:03d}.pdf").write_bytes(make_pdf(pages, f"Report {f + 1}"))


ADD_SUMMARY = re.compile(r"; (\d+) chunks, (\d+) PDF pages in ([\d.]+) s")


def ingest(args):
    folder = ROOT / "build" / "kb-ingest-pdfs"
    write_pdfs(folder, args.files, args.pages, QA / "xquad.en.json")
    runs = []
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
        wait_for_quiet(args.max_busy, args.max_wait)
        proc, _, parse_cpu, parse_others = timed([args.bin / "tandem_knowledge_bench", "parse", folder], args.timeout)
        parsed = json.loads(proc.stdout.strip().splitlines()[-1])
        # A fresh knowledge base (and keyring, so the user's own is never touched) every round.
        kb = ROOT / "build" / "kb-ingest-base"
        shutil.rmtree(kb, ignore_errors=True)
        wait_for_quiet(args.max_busy, args.max_wait)
        proc, wall, add_cpu, add_others = timed(
            [args.bin / "tandem", "--set", f"knowledge.dir={kb}", "--set", f"security.keyring={kb}/keyring.json",
             "--set", f"engine.threads={args.threads}", "kb", "add", folder], args.timeout)
        found = ADD_SUMMARY.search(proc.stdout)
        if not found:
            sys.exit("tandem kb add printed no summary:\n" + proc.stdout)
        chunks, pages, seconds = int(found.group(1)), int(found.group(2)), float(found.group(3))
        run = {"parse_pages_per_s": parsed["pages_per_s"], "parse_s": parsed["seconds"], "pages": pages,
               "chunks": chunks, "add_s": seconds, "add_wall_s": wall, "pages_per_s": pages / seconds,
               "chunks_per_s": chunks / seconds, "parse_pages_per_cpu_s": pages / parse_cpu,
               "pages_per_cpu_s": pages / add_cpu, "chunks_per_cpu_s": chunks / add_cpu,
               "others_busy": max(parse_others, add_others)}
        runs.append(run)
        print(f"  parse {run['parse_pages_per_s']:.0f} pages/s; kb add {run['pages_per_s']:.2f} pages/s, "
              f"{run['chunks_per_s']:.1f} chunks/s (others busy {run['others_busy']:.0%})", file=sys.stderr, flush=True)
    shutil.rmtree(ROOT / "build" / "kb-ingest-base", ignore_errors=True)
    keys = ("parse_pages_per_s", "pages_per_s", "chunks_per_s", "add_s", "add_wall_s", "parse_pages_per_cpu_s",
            "pages_per_cpu_s", "chunks_per_cpu_s")
    summary = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cores": os.cpu_count(),
               "files": args.files, "pages_per_file": args.pages, "pages": runs[0]["pages"],
               "chunks": runs[0]["chunks"], "threads": args.threads, "rounds": len(runs),
               "median": {key: median([r[key] for r in runs]) for key in keys}, "runs": runs}
    m = summary["median"]
    lines = [f"Ingest: {args.files} generated PDFs of {args.pages} pages ({summary['pages']} pages, "
             f"{summary['chunks']} chunks of default size), {args.threads} threads, {len(runs)} rounds; medians; "
             f"{summary['date']}", "",
             "| measurement | wall | per CPU second of the process |", "|---|---|---|",
             f"| parse only (poppler text extraction) | {m['parse_pages_per_s']:.0f} pages/s | "
             f"{m['parse_pages_per_cpu_s']:.0f} pages |",
             f"| `tandem kb add`, end to end (parse, chunk, embed, store, index) | {m['pages_per_s']:.2f} pages/s, "
             f"{m['chunks_per_s']:.1f} chunks/s ({m['add_s']:.1f} s; {m['add_wall_s']:.1f} s with start-up) | "
             f"{m['pages_per_cpu_s']:.2f} pages, {m['chunks_per_cpu_s']:.1f} chunks (start-up included) |",
             "", "Others busy per round: " + ", ".join(f"{r['others_busy']:.0%}" for r in runs)]
    write_results(args.out_ingest, summary, lines)


def write_paragraph_files(folder, squad_file):
    """Every paragraph of `squad_file` as a .txt file of its own; the questions, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    questions = []
    for a, article in enumerate(json.load(open(squad_file, encoding="utf-8"))["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            (folder / f"{a:02d}-{p:02d}.txt").write_text(paragraph["context"] + "\n", encoding="utf-8")
            questions += [qa["question"] for qa in paragraph["qas"]]
    return questions


def encryption_side(args, folder, questions, encrypted):
    """`tandem kb add` of `folder` into a fresh data directory, then one `tandem kb search` per question."""
    base = ROOT / "build" / "kb-encryption-base"
    shutil.rmtree(base, ignore_errors=True)
    env = dict(os.environ, TANDEM_DATA=str(base / "data"), TANDEM_SECURITY_KEYRING=str(base / "keyring.json"),
               TANDEM_SECURITY_ENCRYPTION="passphrase" if encrypted else "off",
               TANDEM_PASSPHRASE="correct horse battery staple")
    tandem = [args.bin / "tandem", "--set", f"engine.threads={args.threads}"]
    wait_for_quiet(args.max_busy, args.max_wait)
    _, add_wall, add_cpu, add_others = timed(tandem + ["kb", "add", folder], args.timeout, env)
    magic = (base / "data" / "kb" / "kb.sqlite").read_bytes()[:15]
    if magic != (b"Tandem AES-GCM1" if encrypted else b"SQLite format 3"):
        sys.exit(f"the knowledge base is not {'encrypted' if encrypted else 'in clear'}: it begins {magic!r}")
    search_wall = search_cpu = 0.0
    others = [add_others]
    for question in questions:
        proc, wall, cpu, busy = timed(tandem + ["kb", "search", question, "--json"], args.timeout, env)
        if not json.loads(proc.stdout)["hits"]:
            sys.exit(f"tandem kb search found nothing for {question!r}")
        search_wall += wall
        search_cpu += cpu
        others.append(busy)
    files = [f for f in (base / "data").rglob("*") if f.is_file()]
    return {"add_wall_s": add_wall, "add_cpu_s": add_cpu, "search_wall_s": search_wall / len(questions),
            "search_cpu_s": search_cpu / len(questions), "others_busy": max(others),
            "bytes_on_disk": sum(f.stat().st_size for f in files)}


def encryption(args):
    folder = ROOT / "build" / "kb-encryption-texts"
    questions = write_paragraph_files(folder, QA / "xquad.en.json")[:args.queries]
    sides = ("clear", "encrypted")
    runs = []
    for i in range(args.rounds):
        order = sides if i % 2 == 0 else sides[::-1]
        run = {}
        for side in order:
            print(f"round {i + 1}/{args.rounds}: {side}", file=sys.stderr, flush=True)
            run[side] = encryption_side(args, folder, questions, side == "encrypted")
        runs.append(run)
    shutil.rmtree(ROOT / "build" / "kb-encryption-base", ignore_errors=True)
    keys = ("add_wall_s", "add_cpu_s", "search_wall_s", "search_cpu_s")
    summary = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cores": os.cpu_count(),
               "files": len(list(folder.glob("*.txt"))), "queries": len(questions), "threads": args.threads,
               "rounds": len(runs), "median": {side: {key: median([r[side][key] for r in runs]) for key in keys}
                                               for side in sides},
               "overhead": {key: median([r["encrypted"][key] / r["clear"][key] for r in runs]) - 1 for key in keys},
               "runs": runs}
    m, o = summary["median"], summary["overhead"]
    lines = [f"Encryption at rest end to end: {summary['files']} XQuAD en paragraphs as .txt files, `tandem kb add` "
             f"then {summary['queries']} `tandem kb search` processes (hybrid), clear vs encrypted (passphrase), "
             f"{len(runs)} alternating rounds; medians, overhead = median of per-round ratios; {summary['date']}", "",
             "| measurement | clear | encrypted | overhead |", "|---|---:|---:|---:|"]
    for key, label in (("add_wall_s", "`kb add`, wall s"), ("add_cpu_s", "`kb add`, CPU s"),
                       ("search_wall_s", "`kb search`, wall s per query"),
                       ("search_cpu_s", "`kb search`, CPU s per query")):
        lines.append(f"| {label} | {m['clear'][key]:.3f} | {m['encrypted'][key]:.3f} | {o[key]:+.1%} |")
    lines += ["", "Others busy per round (clear, encrypted): " +
              ", ".join(f"{r['clear']['others_busy']:.0%}/{r['encrypted']['others_busy']:.0%}" for r in runs)]
    write_results(args.out_encryption, summary, lines)


def write_results(out, summary, lines):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=pathlib.Path, default=ROOT / "build" / "bin")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--clean", type=float, default=0.10,
                        help="a round is clean when other processes used at most this share of the CPUs")
    parser.add_argument("--max-busy", type=float, default=0.15,
                        help="before each run wait until other processes use at most this share of the CPUs")
    parser.add_argument("--max-wait", type=float, default=60, help="seconds to wait for that, then measure anyway")
    modes = parser.add_subparsers(dest="mode", required=True)
    emb = modes.add_parser("embedding", help="the embedder against llama-embedding")
    emb.add_argument("--model", type=pathlib.Path, default=MODELS / "all-minilm-l6-v2-bf16.gguf")
    emb.add_argument("--rounds", type=int, default=6)
    emb.add_argument("--context", type=int, default=512, help="MiniLM's training context, as the embedder uses")
    emb.add_argument("--batch", type=int, default=512,
                     help="tokens per decode (batch = micro-batch; 512: what Tandem chooses for MiniLM)")
    emb.add_argument("--sentences", type=int, default=0, help="only the first N sentences (0: all 1242)")
    emb.add_argument("--out", type=pathlib.Path, default=ROOT / "bench" / "results" / "knowledge_embedding")
    ing = modes.add_parser("ingest", help="PDF pages/s parsed, and pages/s and chunks/s through `tandem kb add`")
    ing.add_argument("--files", type=int, default=20)
    ing.add_argument("--pages", type=int, default=10, help="pages per file")
    ing.add_argument("--rounds", type=int, default=3)
    ing.add_argument("--out-ingest", type=pathlib.Path, default=ROOT / "bench" / "results" / "knowledge_ingest")
    enc = modes.add_parser("encryption", help="`tandem kb add` and `tandem kb search`, encrypted vs in clear")
    enc.add_argument("--rounds", type=int, default=3)
    enc.add_argument("--queries", type=int, default=20, help="the first N XQuAD en questions")
    enc.add_argument("--out-encryption", type=pathlib.Path,
                     default=ROOT / "bench" / "results" / "knowledge_encryption")
    args = parser.parse_args()
    {"embedding": embedding, "ingest": ingest, "encryption": encryption}[args.mode](args)


if __name__ == "__main__":
    main()
