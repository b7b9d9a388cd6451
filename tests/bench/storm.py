#!/usr/bin/env python3
"""Restore storm: N simulated VMs key their volumes at once against one
throttled fake vault (docs/storm.md).

Each VM is a separate process (tests/bench/storm_vm.c, the product's
vault/ and base/ code) with its own IMDS identity, hence its own token and
its own IMDS limits; it resolves 4 volume keys, 2 of them KEK-wrapped.
The fake vault enforces Key Vault's per-vault quotas scaled to this machine
(a 1 s window instead of 10 s, LIMIT requests per window and class), 429
with Retry-After, and a 503 every 50th admitted request.

Runs the product, then the naive baseline (the same binary with every wait
zeroed -- VV_TEST_BACKOFF_SCALE=0 -- and no retry budget: it retries at once
and ignores Retry-After), against the same fake, ROUNDS times interleaved
(product, naive, product, naive, ...), and prints JSON lines:
  {"storm": {...}}                  (all figures of one storm, as it ends)
  {"name", "value", "unit", ...}    (bench rows: medians over the rounds,
                                     spreads and goal verdicts, from
                                     bench/lib/stats.py)

Usage: storm.py [--vms N] [--limit L] [--rounds R] [--build DIR] [--no-baseline]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
import fakectl  # noqa: E402
import stats  # noqa: E402

VOLS = 4            # volumes per VM
WRAPPED = 2         # of which KEK-wrapped
WINDOW_S = 1.0      # Key Vault's quota window is 10 s; scaled (docs/storm.md)
RETRY_AFTER = 1     # seconds, as Key Vault sends it
UNAVAILABLE_EVERY = 50
# Per VM: 1 IMDS token, 1 unauthenticated probe (the 401 challenge),
# VOLS secret GETs, WRAPPED unwraps.
MIN_PER_VM = 1 + 1 + VOLS + WRAPPED


def refs(vm):
    return ["vm%d-v%d" % (vm, i) for i in range(VOLS)]


def client_id(vm):
    return "5707a000-0000-4000-8000-%012d" % vm


def start_fakes(state, certs, n):
    preload = [{"op": "put_key", "name": "storm-kek"}]
    for vm in range(n):
        preload.append({"op": "imds_identity", "client_id": client_id(vm), "name": "vm%d" % vm})
        for i, ref in enumerate(refs(vm)):
            bek = {"op": "put_bek", "name": ref, "key": "storm-key-" + ref}
            if i < WRAPPED:
                bek["kek"] = "storm-kek"
            preload.append(bek)
    pre = os.path.join(state, "preload.json")
    with open(pre, "w") as f:
        json.dump(preload, f)
    subprocess.run([os.path.join(ROOT, "tests", "fakes", "start.sh"), state, "--quiet",
                    "--certs", certs, "--kv2-port", "-1", "--preload", pre],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(state, "ports.json")) as f:
        return json.load(f)


def storm(binary, ports, n, limit, naive):
    ctl = ports["ctl_url"]
    fakectl.call(ctl, "config", {"limits": True, "kv_window_s": WINDOW_S,
                                 "kv_secret_reads_per_10s": limit, "kv_key_ops_per_10s": limit,
                                 "throttle_retry_after": RETRY_AFTER,
                                 "kv_unavailable_every": UNAVAILABLE_EVERY})
    fakectl.call(ctl, "reset_counters", {})
    env = dict(os.environ)
    env["VAULTVOL_TEST_RESOLVE"] = ports["resolve"]
    env.pop("VV_TEST_BACKOFF_SCALE", None)
    max_retries = "0"  # the product's default
    if naive:
        env["VV_TEST_BACKOFF_SCALE"] = "0"
        max_retries = "1000000"
    # Every VM starts at the same instant, once all are spawned.
    start = int(time.monotonic() * 1000) + 500 + 10 * n
    procs = []
    for vm in range(n):
        procs.append(subprocess.Popen(
            [binary, str(vm), ports["kv_url"], ports["imds_url"], ports["ca"], client_id(vm),
             str(start), max_retries] + refs(vm),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    vms, errors = [], []
    for p in procs:
        out, err = p.communicate()
        line = out.decode().strip()
        if line:
            vms.append(json.loads(line))
        if err.strip():
            errors.append(err.decode().strip().splitlines()[0])
    c = fakectl.call(ctl, "counters", {})["counters"]
    keyed = sum(1 for v in vms if v["ok"])
    times = sorted(v["done_ms"] - start for v in vms if v["ok"])
    last = times[-1] if times else None
    requests = c.get("primary.requests", 0) + c.get("imds.requests", 0)
    minimum = MIN_PER_VM * n
    # The binding quota: VOLS secret GETs per VM at limit per window.
    ideal_ms = VOLS * n / (limit / WINDOW_S) * 1000

    def pct(q):
        return times[min(len(times) - 1, int(q * len(times)))] if times else None
    return {
        "client": "naive" if naive else "vaultvol", "vms": n, "keyed": keyed,
        "requests": requests, "minimum": minimum, "request_ratio": round(requests / minimum, 3),
        "last_ms": last, "ideal_ms": round(ideal_ms),
        "time_ratio": round(last / ideal_ms, 3) if last else None,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "throttled": c.get("primary.throttled", 0), "unavailable": c.get("primary.unavailable", 0),
        "imds_throttled": c.get("imds.throttled", 0),
        "gets_ok": c.get("primary.get_secret.ok", 0), "unwraps_ok": c.get("primary.unwrapkey.ok", 0),
        "errors": errors[:5],
    }


# The rows: (name, unit, field, goal on the product's own figure).
ROWS = (("VMs keyed", "VMs", "keyed", ">= N"),
        ("requests / minimum", "x", "request_ratio", ("<=", 1.3)),
        ("last keyed / ideal", "x", "time_ratio", ("<=", 1.25)),
        ("last VM keyed", "ms", "last_ms", None),
        ("p50 VM keyed", "ms", "p50_ms", None),
        ("p99 VM keyed", "ms", "p99_ms", None))


def emit_rows(n, product, naive):
    """One bench row per figure: the median over the rounds and its spread,
    with the naive client's rounds as the baseline when it ran (NAIVE None
    when not). A round with no figure on either side (no VM keyed) is left
    out of that row; a row with no round left prints nulls."""
    for title, unit, key, goal in ROWS:
        name = "storm %d VMs: %s" % (n, title)
        if goal == ">= N":
            goal = (">=", n)
        opts = {"goal": goal, "goal_on": "value"} if goal else {}
        if naive is None:
            vv = [a[key] for a in product if a[key] is not None]
            base = None
        else:
            kept = [(a[key], b[key]) for a, b in zip(product, naive) if a[key] is not None and b[key]]
            vv, base = [k[0] for k in kept], [k[1] for k in kept]
            opts["baseline_is"] = "the same VMs retrying at once, ignoring Retry-After"
        if not vv:
            print(json.dumps({"name": name, "value": None, "unit": unit,
                              "baseline": None, "ratio": None, "rounds": 0}))
            continue
        stats.emit(name, unit, vv, base, **opts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=200)
    ap.add_argument("--limit", type=int, default=60,
                    help="secret GETs (and key operations) per 1 s window")
    ap.add_argument("--rounds", type=int, default=1,
                    help="storms per client, interleaved product, naive, product, ...")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    binary = os.path.join(a.build, "bench", "storm_vm")
    certs = os.path.join(a.build, "bench", "storm-certs")
    os.makedirs(certs, exist_ok=True)
    if not os.path.exists(os.path.join(certs, "server.pem")):
        subprocess.run([os.path.join(ROOT, "tests", "fakes", "mkca.sh"), certs], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tempfile.mkdtemp(prefix="vv-storm-")
    try:
        ports = start_fakes(state, certs, a.vms)
        product, naive = [], []
        for rnd in range(1, a.rounds + 1):
            if rnd > 1:
                time.sleep(WINDOW_S)  # the quota window empties
            s = storm(binary, ports, a.vms, a.limit, False)
            s["round"] = rnd
            print(json.dumps({"storm": s}), flush=True)
            product.append(s)
            if not a.no_baseline:
                time.sleep(WINDOW_S)
                b = storm(binary, ports, a.vms, a.limit, True)
                b["round"] = rnd
                print(json.dumps({"storm": b}), flush=True)
                naive.append(b)
        emit_rows(a.vms, product, naive if not a.no_baseline else None)
    finally:
        subprocess.run([os.path.join(ROOT, "tests", "fakes", "stop.sh"), state],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
