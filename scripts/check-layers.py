#!/usr/bin/env python3
"""Checks that the server crate's modules depend on each other in one
direction: no import cycle between modules, at the level of top-level
modules and of every file. Reads `crate::` paths in the source (imports and
inline paths, test modules excluded), resolves each to the module that
defines it, and prints the modules on a cycle if there is one.

Usage: scripts/check-layers.py [CRATE_DIR ...] [--graph]
(default: server). Exit 0 when acyclic, 1 with the cycles named otherwise.
"""
import os
import re
import sys


def modules_of(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    mods = {}
    for d, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(d, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = os.path.join(d, f)
    # Modules written inline in the crate root (`pub mod transport { .. }`)
    # are modules of their own, with nothing to read.
    root = mods.get(())
    if root:
        with open(root) as f:
            for m in re.finditer(r"^(?:pub )?mod (\w+) \{", f.read(), re.M):
                mods[(m.group(1),)] = None
    return mods


def without_tests(text):
    # Test modules may use anything in their parent; they are not layering.
    return re.split(r"#\[cfg\(test\)\]", text)[0]


def paths_in(text):
    for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", text):
        yield m.group(1).split("::")
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for item in m.group(1).split(","):
            item = item.strip()
            if item:
                yield item.split("::")


def resolve(path, mods):
    """The longest prefix of `path` that names a module."""
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return ()


def graph(src, depth):
    mods = modules_of(src)
    edges = {}
    for mod, file in mods.items():
        if file is None:
            continue
        with open(file) as f:
            text = without_tests(f.read())
        here = mod[:depth]
        for path in paths_in(text):
            target = resolve(path, mods)[:depth]
            # The crate root wires everything; a module that reaches back up
            # into it is on a cycle with it.
            here_node, target_node = here or ("lib",), target or ("lib",)
            if target_node == here_node:
                continue
            if here and target and (here[: len(target)] == target or target[: len(here)] == here):
                continue
            edges.setdefault(here_node, set()).add(target_node)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    nodes = set(edges) | {w for ws in edges.values() for w in ws}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(mod):
    return "::".join(mod)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--graph" in sys.argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    failed = False
    for crate in args or ["server"]:
        src = os.path.join(root, crate, "src")
        for depth, level in ((1, "top-level modules"), (99, "files")):
            edges = graph(src, depth)
            if show and depth == 1:
                for mod in sorted(edges):
                    print(f"{crate}: {name(mod)} -> {', '.join(sorted(name(t) for t in edges[mod]))}")
            for comp in cycles(edges):
                failed = True
                print(f"{crate}: import cycle between {level}: {' <-> '.join(name(m) for m in comp)}")
                for m in comp:
                    inside = sorted(name(t) for t in edges.get(m, ()) if t in comp)
                    print(f"    {name(m)} uses {', '.join(inside)}")
    if not failed:
        print(f"layering: no import cycle in {', '.join(args or ['server'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
