#!/usr/bin/env python3
"""Prints the figures of one `make bench` run (bench/results/latest.json) as
the Markdown table README.md carries, so the README's figures come from a
run and not from hand copying.

Usage: python3 bench/lib/readme_table.py [bench/results/latest.json]
"""
import json
import sys


def num(x):
    if x is None:
        return ""
    if isinstance(x, float) and not x.is_integer():
        return "%.3g" % x if abs(x) < 100 else "%.0f" % x
    return str(int(x))


def cell(v, sp):
    """v with its [min-max] spread when the spread says something."""
    if v is None:
        return ""
    if sp and sp[0] != sp[1]:
        return "%s [%s-%s]" % (num(v), num(sp[0]), num(sp[1]))
    return num(v)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json"
    rows = json.load(open(path))
    print("| row | vaultvol | baseline | unit | ratio [spread] | rounds | goal |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        g = r.get("goal")
        goal = ""
        if g:
            goal = "%s %s%s: %s" % (g["op"], num(g["limit"]), " (value)" if g.get("on") == "value" and
                                     r.get("baseline") is not None else "", r.get("verdict", ""))
        value = cell(r["value"], r.get("value_spread") if r.get("baseline") is None or
                     (g and g.get("on") == "value") else None)
        name = r["name"].replace("|", "\\|")
        if r.get("kernel", "").startswith("guest") and "[" not in name:
            name += " (%s)" % r["kernel"]
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            name, value, num(r.get("baseline")), r.get("unit", ""),
            cell(r.get("ratio"), r.get("spread")), r.get("rounds", ""), goal))
    counts = {}
    for r in rows:
        if r.get("verdict"):
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    host = [r for r in rows if not str(r.get("kernel", "")).startswith("guest")]
    print("\nGoals: %d met, %d missed, %d straddle. Machine: %s; host kernel %s." % (
        counts.get("met", 0), counts.get("missed", 0), counts.get("straddles", 0),
        rows[0].get("machine", "?") if rows else "?", host[0].get("kernel", "?") if host else "?"))


if __name__ == "__main__":
    main()
