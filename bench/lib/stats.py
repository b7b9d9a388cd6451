"""Rounds, medians and goal verdicts for the bench rows.

A timed row runs vaultvol (A) and its baseline (B) interleaved, A B A B ...,
so slow drifts of a loaded machine hit both sides alike; each round gives
one ratio A/B. The row reports the median of those ratios and their spread
(min-max): a ratio whose spread is wide proves less than its median, and a
goal that the spread straddles is neither met nor missed for sure.

    import stats
    stats.emit("key check", "us", vv_rounds, base_rounds, goal=("<=", 1.0))

prints one JSON line for bench/run.sh:
    {"name", "value", "unit", "baseline", "ratio", "spread", "rounds",
     "value_spread", "samples", "baseline_samples",
     "goal": {"op", "limit", "on"}, "verdict", ...extra}
(without a baseline: no "spread" or "baseline_samples", baseline and ratio
null; without a goal: no "goal" or "verdict"). The goal is judged on the ratio when there is a baseline, else on
the value, unless goal_on says otherwise (the storm's requests/minimum is
itself a ratio to the minimum, with the naive client beside it).
"""
import json
import operator
import sys

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def median(xs):
    """The middle value of XS; the mean of the two middle ones for even n."""
    s = sorted(xs)
    n = len(s)
    if n == 0:
        raise ValueError("median of no values")
    if n % 2:
        return s[n // 2]
    return (s[n // 2 - 1] + s[n // 2]) / 2


def _fig(x, inputs):
    """X as the row prints it: an int when every input was an int and X is
    whole, else a float to 3 places."""
    if all(isinstance(i, int) and not isinstance(i, bool) for i in inputs) and x == int(x):
        return int(x)
    return round(float(x), 3)


def _check(name, xs):
    if not xs:
        raise ValueError("%s: no rounds" % name)
    for x in xs:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ValueError("%s: %r is not a number" % (name, x))


def paired(vv, base):
    """Figures of interleaved rounds: vv[i] and base[i] come from round i.
    Returns value and baseline (medians), ratio (median of the per-round
    ratios vv[i]/base[i]), spread ([min, max] of those ratios), rounds."""
    vv, base = list(vv), list(base)
    if len(vv) != len(base):
        raise ValueError("paired: %d vaultvol rounds but %d baseline rounds" % (len(vv), len(base)))
    _check("paired vaultvol", vv)
    _check("paired baseline", base)
    if any(b == 0 for b in base):
        raise ValueError("paired: a baseline round of 0 has no ratio")
    ratios = [a / b for a, b in zip(vv, base)]
    return {"value": _fig(median(vv), vv), "baseline": _fig(median(base), base),
            "ratio": round(median(ratios), 3),
            "spread": [round(min(ratios), 3), round(max(ratios), 3)],
            "rounds": len(vv)}


def verdict(op, limit, mid, lo, hi):
    """met: the median and the whole spread [lo, hi] meet `op limit`;
    missed: none of it does; straddles: the spread crosses the limit."""
    if op not in _OPS:
        raise ValueError("goal: unknown operator %r" % (op,))
    meets = _OPS[op]
    # The goal is a threshold, so the spread's ends decide it.
    if meets(mid, limit) and meets(lo, limit) and meets(hi, limit):
        return "met"
    if not meets(mid, limit) and not meets(lo, limit) and not meets(hi, limit):
        return "missed"
    return "straddles"


def row(name, unit, vv, base=None, goal=None, higher_is_better=False, goal_on=None, **extra):
    """The JSON object emit prints (see the module's comment)."""
    vv = list(vv)
    if base is not None:
        base = list(base)
        r = {"name": name, "unit": unit}
        r.update(paired(vv, base))
        mid, (lo, hi) = r["ratio"], r["spread"]
    else:
        _check(name, vv)
        r = {"name": name, "unit": unit, "value": _fig(median(vv), vv),
             "baseline": None, "ratio": None, "rounds": len(vv)}
    r["value_spread"] = [_fig(min(vv), vv), _fig(max(vv), vv)]
    # Every round's figures, for whoever wants more than the median.
    r["samples"] = [_fig(x, vv) for x in vv]
    if base is not None:
        r["baseline_samples"] = [_fig(x, base) for x in base]
    if higher_is_better:
        r["higher_is_better"] = True
    if goal is not None:
        op, limit = goal
        on = goal_on or ("ratio" if base is not None else "value")
        if on == "value":
            mid = r["value"]
            lo, hi = (min(vv), max(vv))
        elif on != "ratio" or base is None:
            raise ValueError("%s: a goal on the %s needs a baseline" % (name, on))
        r["goal"] = {"op": op, "limit": limit, "on": on}
        r["verdict"] = verdict(op, limit, mid, lo, hi)
    r.update(extra)
    return r


def emit(name, unit, vv, base=None, goal=None, higher_is_better=False, **extra):
    """Print one bench row (one JSON line) from the per-round figures VV
    and, when given, the baseline's BASE of the same rounds. GOAL is
    (op, limit), e.g. ("<=", 1.10); goal_on="value" judges the value even
    when there is a baseline. EXTRA fields are added as they are."""
    print(json.dumps(row(name, unit, vv, base, goal, higher_is_better, **extra)))
    sys.stdout.flush()
