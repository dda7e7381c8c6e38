"""Helpers shared by the benchmark scripts in bench/ (standard library only).

The benchmark machines are small and shared: on 2 cores, one other busy process halves a
2-thread run (OpenMP threads wait at every barrier for the one that lost its core). So each
measurement round first waits, up to a limit, until the rest of the machine is quiet, and records
how busy it was.
"""

import http.client
import json
import pathlib
import socket
import statistics
import subprocess
import sys
import threading
import time


def first_existing(*paths):
    for p in paths:
        if pathlib.Path(p).exists():
            return pathlib.Path(p)
    return pathlib.Path(paths[0])


def write_xquad_sentences(squad_file, path):
    """The paragraphs of a SQuAD-format file, one sentence per line: no empty lines and no final
    newline, so that llama-embedding -f (which splits on every newline) reads the same inputs."""
    import json

    lines = []
    for article in json.load(open(squad_file, encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            lines += [line for line in paragraph["context"].replace(". ", ".\n").split("\n") if line]
    pathlib.Path(path).write_text("\n".join(lines), encoding="utf-8")


def median(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]), idle


def cpu_busy(window_s=2.0):
    """Fraction (0..1) of all cores busy over the window, from /proc/stat."""
    total0, idle0 = _cpu_times()
    time.sleep(window_s)
    total1, idle1 = _cpu_times()
    total = total1 - total0
    return 0.0 if total <= 0 else 1.0 - (idle1 - idle0) / total


def wait_for_quiet(max_busy, max_wait_s, label=""):
    """Waits until other processes use at most max_busy of the machine; returns the last reading.

    max_busy <= 0 or max_wait_s <= 0 disables the wait (one reading is still taken)."""
    deadline = time.monotonic() + max(0.0, max_wait_s)
    busy = cpu_busy()
    waited = False
    while max_busy > 0 and busy > max_busy and time.monotonic() < deadline:
        if not waited:
            print(f"  waiting for a quiet machine{label}: {busy:.0%} busy", file=sys.stderr, flush=True)
            waited = True
        busy = cpu_busy()
    if busy > max_busy > 0:
        print(f"  machine still {busy:.0%} busy after {max_wait_s:.0f}s{label}; measuring anyway",
              file=sys.stderr, flush=True)
    return busy


def run_measured(cmd, timeout, env=None):
    """Runs cmd; returns (completed process, share of all CPUs used by *other* processes meanwhile).

    The share is /proc/stat's busy time minus this command's own CPU time (getrusage of children),
    over the total: 0 on a quiet machine, 0.5 when something else kept one of two cores busy."""
    import os
    import resource
    import subprocess

    clk = os.sysconf("SC_CLK_TCK")
    total0, idle0 = _cpu_times()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    total1, idle1 = _cpu_times()
    total = (total1 - total0) / clk
    busy = total - (idle1 - idle0) / clk
    ours = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    others = 0.0 if total <= 0 else min(1.0, max(0.0, (busy - ours) / total))
    return proc, others


def process_cpu_seconds(pid):
    """CPU time (user + system, all threads) a live process has used so far; 0 when it is gone."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class OthersMeter:
    """Share of the CPUs used by processes other than `pids` and this one between start() and stop()."""

    def __init__(self, pids):
        import os

        self.pids = list(pids) + [os.getpid()]

    def start(self):
        self.t0 = _cpu_times()
        self.c0 = sum(process_cpu_seconds(p) for p in self.pids)

    def stop(self):
        import os

        clk = os.sysconf("SC_CLK_TCK")
        total1, idle1 = _cpu_times()
        total = (total1 - self.t0[0]) / clk
        busy = total - (idle1 - self.t0[1]) / clk
        ours = sum(process_cpu_seconds(p) for p in self.pids) - self.c0
        return 0.0 if total <= 0 else min(1.0, max(0.0, (busy - ours) / total))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(port, method, path, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc, port, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready")
        try:
            status, _ = http_json(port, "GET", "/health", timeout=5)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{name} not ready on port {port} after {timeout}s")


def start_tandem_serve(cmd, env, log):
    """Starts `cmd` (a `tandem ... serve --host 127.0.0.1 --port 0 ...` line) and returns (process,
    port) once it answers /health; its stderr goes to the open file `log`."""
    print("  $ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    # The one stdout line "tandem: listening on http://HOST:PORT" gives the port.
    found = {}

    def read_port():
        for line in proc.stdout:
            if line.startswith("tandem: listening on http://"):
                found["port"] = int(line.strip().rsplit(":", 1)[1])
                return

    reader = threading.Thread(target=read_port, daemon=True)
    reader.start()
    reader.join(timeout=120)
    if "port" not in found:
        stop(proc)
        raise RuntimeError("tandem serve did not print its port (see %s)" % log.name)
    wait_ready(proc, found["port"], "tandem serve")
    return proc, found["port"]


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(cmd):
    print("$ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    subprocess.run([str(c) for c in cmd], check=True)


def run_json(cmd):
    """The command's standard output, parsed as one JSON value."""
    print("$ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return json.loads(subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, check=True, text=True).stdout)
