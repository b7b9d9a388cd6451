"""Shared by the bench rows that read a guest scenario's figures from
build/vm/metrics.tsv (tests/vm/run.sh writes one line per figure:
scenario, kernel, name, value, unit)."""
import json


def load(path, scenario):
    """The figures SCENARIO left in PATH, name -> float."""
    m = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) == 5 and f[0] == scenario:
            m[f[2]] = float(f[3])
    return m


def ratio(a, b):
    """a / b to 3 places; None when either side is missing (or b is 0)."""
    return round(a / b, 3) if a is not None and b else None


def row(name, value, unit, baseline):
    """Print one bench row (bench/run.sh's JSON line)."""
    print(json.dumps({"name": name, "value": value, "unit": unit,
                      "baseline": baseline, "ratio": ratio(value, baseline)}))


def series(m, key):
    """The per-round figures a scenario stored as KEY_r1, KEY_r2, ... (in
    round order, up to the first missing round), as floats; [] if none."""
    out = []
    i = 1
    while "%s_r%d" % (key, i) in m:
        out.append(float(m["%s_r%d" % (key, i)]))
        i += 1
    return out


def load_kept(work):
    """The figures of one kept scenario run (VM_KEEP=1): WORK/metrics.tsv,
    name -> float. The rows read the work dir rather than the shared
    build/vm/metrics.tsv, which the next run of any scenario rewrites.
    Exits (the row fails) when the run left none."""
    import os
    import sys
    path = os.path.join(work, "metrics.tsv")
    m = {}
    for line in open(path) if os.path.exists(path) else []:
        f = line.rstrip("\n").split("\t")
        if len(f) == 3:
            m[f[0]] = float(f[1])
    if not m:
        sys.exit("%s left no metrics" % work)
    return m
