#!/usr/bin/env python3
"""The layout rules of docs/ARCHITECTURE.md, checked on the tree.

Two checks, each printing the offending line and failing:
  includes  every #include line of agent/, vault/, base/, plugin/ and dmtarget/
            against the folder rules below;
  loops     the object files of a build (nm): file A depends on file B when
            A uses a symbol B defines; no two files of agent/ (or of
            vault/, or of base/) may depend on each other, directly or
            through others. A loop through a shared internal header is
            still a loop, which is why this reads symbols, not includes.

usage: depcheck.py [--root DIR] [--build DIR] [includes|loops|all]
"""
import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PRODUCT = ("agent", "vault", "base", "dmtarget", "plugin")
# What agent/ (and the token plugin, plugin/) may use of vault/: its public face only.
VAULT_PUBLIC = {"vault/vault.h"}
KERNEL_PREFIXES = ("linux/", "asm/", "uapi/", "generated/")


def sources(root):
    for top in PRODUCT:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    p = os.path.join(d, f)
                    yield os.path.relpath(p, root)


def include_errors(root):
    errs = []
    for rel in sources(root):
        top = rel.split("/")[0]
        with open(os.path.join(root, rel), errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                quoted, inc = m.group(1) == '"', m.group(2)
                why = rule(rel, top, quoted, inc)
                if why:
                    errs.append("%s:%d: %s\n    %s" % (rel, n, why, line.rstrip()))
    return errs


def rule(rel, top, quoted, inc):
    if quoted and inc.startswith("tests/"):
        return "the product never includes tests/"
    if top == "dmtarget":
        if quoted:
            if "/" in inc:
                return "dmtarget/ includes only kernel headers and its own"
            return None
        if not inc.startswith(KERNEL_PREFIXES):
            return "dmtarget/ includes only kernel headers (<linux/...>) and its own"
        return None
    if not quoted:
        if inc == "libcryptsetup.h" and not rel.startswith("agent/volume/"):
            return "only agent/volume/ talks to libcryptsetup (agent/volume/crypt.h is its face)"
        return None
    if top == "base" and inc.startswith(("agent/", "vault/")):
        return "base/ includes neither vault/ nor agent/"
    if top == "vault" and inc.startswith("agent/"):
        return "vault/ never includes agent/ (it knows nothing of volumes)"
    if top in ("agent", "plugin") and inc.startswith("vault/") and inc not in VAULT_PUBLIC:
        return "%s/ uses vault/ only through %s" % (top, " ".join(sorted(VAULT_PUBLIC)))
    if top != "plugin" and inc.startswith("plugin/"):
        return "nothing but plugin/ includes plugin/ (the token plugin is built on the others)"
    return None


def nm(path):
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True,
                         text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines()
               if len(l.split()) == 3 and l.split()[1] in "TDBRCVW"}
    out = subprocess.run(["nm", "--undefined-only", path], capture_output=True,
                         text=True, check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.split()}
    return defined, used


def loop_errors(root, build):
    errs = []
    objs = {}
    for top in ("agent", "vault", "base"):
        for d, _, files in os.walk(os.path.join(build, top)):
            for f in files:
                if f.endswith(".o"):
                    p = os.path.join(d, f)
                    src = os.path.relpath(p, build)[:-2] + ".c"
                    # an object left from a file since moved is not the tree
                    if os.path.exists(os.path.join(root, src)):
                        objs[src] = nm(p)
    if not objs:
        return ["no object files under %s: build first (make userspace)" % build]
    owner = {}
    for src, (defined, _) in objs.items():
        for s in defined:
            owner.setdefault(s, src)
    graph = {src: {} for src in objs}
    for src, (_, used) in objs.items():
        for s in used:
            o = owner.get(s)
            if o and o != src:
                graph[src].setdefault(o, s)
    for top in ("agent", "vault", "base"):
        nodes = [n for n in graph if n.startswith(top + "/")]
        for comp in sccs(nodes, graph):
            if len(comp) > 1:
                errs.append("file loop in %s/: %s" % (top, describe(comp, graph)))
    return errs


def sccs(nodes, graph):
    """Tarjan, iterative; edges restricted to nodes."""
    nodeset, index, low, on, stack, out, i = set(nodes), {}, {}, set(), [], [], [0]
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(e for e in graph[start] if e in nodeset)))]
        index[start] = low[start] = i[0]; i[0] += 1; stack.append(start); on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = i[0]; i[0] += 1; stack.append(w); on.add(w)
                    work.append((w, iter(sorted(e for e in graph[w] if e in nodeset))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def describe(comp, graph):
    inside = set(comp)
    return "; ".join("%s -> %s (%s)" % (a, b, graph[a][b])
                     for a in comp for b in sorted(graph[a]) if b in inside)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=".")
    ap.add_argument("--build", default="build")
    ap.add_argument("what", nargs="?", default="all", choices=("includes", "loops", "all"))
    a = ap.parse_args()
    errs = []
    if a.what in ("includes", "all"):
        errs += include_errors(a.root)
    if a.what in ("loops", "all"):
        errs += loop_errors(a.root, os.path.join(a.root, a.build) if not os.path.isabs(a.build) else a.build)
    for e in errs:
        print("depcheck: " + e)
    print("depcheck: %s: %d problem(s)" % (a.what, len(errs)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
