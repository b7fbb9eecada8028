#!/usr/bin/env python3
"""Fails when the crate's modules import each other in a circle (issue #33).

Reads every file under src/, drops comments, strings and `#[cfg(test)]` modules
(tests may compare a module with one above it), and follows `crate::`, `super::` and `self::`
paths to the file they name. No file may be over 700 lines, and two graphs must have no circle:
  - folders: src/<folder>/ (and the top-level files), so dependencies run one way;
  - files: no two files import each other, directly or around a loop.
Prints each circle with one import that closes it, and exits 1; exits 0 when there is none.

    scripts/check-layout.py [SRC_DIR]      (default: src/ beside this script's folder)
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
SRC = os.path.normpath(SRC)


def strip(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    test_mod = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\(\w+\))?\s+)?mod\s+\w+\s*[;{]")
    while m := test_mod.search(text):
        end, depth = m.end(), int(text[m.end() - 1] == "{")
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        text = text[: m.start()] + text[end:]
    return text


def module_of(path):
    """src/a/b.rs -> ['a', 'b']; src/a/mod.rs -> ['a']; src/lib.rs -> []."""
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def file_of(segments):
    """The file that defines the module path `segments` (or the item in it)."""
    d = SRC
    for i, seg in enumerate(segments):
        if os.path.isdir(os.path.join(d, seg)):
            d = os.path.join(d, seg)
            continue
        if os.path.isfile(os.path.join(d, seg + ".rs")):
            return os.path.join(d, seg + ".rs")
        break
    for name in ("mod.rs", "lib.rs"):
        if os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


def paths_in(text):
    """Each path that starts with crate/super/self, expanded over `{...}` groups."""
    out = []
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)*)::\{", text):
        depth, j, items, cur = 1, m.end(), [], ""
        while depth and j < len(text):
            ch = text[j]
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 1 and ch == ",":
                items.append(cur)
                cur = ""
            elif depth >= 1 and not (depth == 1 and ch == "}"):
                cur += ch
            j += 1
        items.append(cur)
        head = [m.group(1)] + [s for s in m.group(2).split("::") if s]
        for item in items:
            first = re.match(r"\s*(\w+)", item)
            if first:
                out.append(head + [first.group(1)])
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
        out.append([m.group(1)] + [s for s in m.group(2).split("::") if s])
    return out


def resolve(path, segments):
    here = module_of(path)
    is_mod = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
    base = []
    rest = list(segments)
    while rest and rest[0] in ("crate", "super", "self"):
        head = rest.pop(0)
        if head == "crate":
            base = []
        elif head == "self":
            base = list(here) if not base else base
        else:
            start = base if base else list(here)
            # In a.rs, `super` is a's parent; in a/mod.rs too (the module is the folder).
            base = start[:-1]
        here = base
    return file_of(base + rest)


def folder_of(path):
    rel = os.path.relpath(path, SRC).split(os.sep)
    return rel[0] if len(rel) > 1 else rel[0][:-3]


def circles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


files, folders = {}, {}
for dirpath, _, names in os.walk(SRC):
    for name in names:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(dirpath, name)
        text = strip(open(path, encoding="utf-8").read())
        for segments in paths_in(text):
            target = resolve(path, segments)
            if not target or target == path:
                continue
            # lib.rs only declares the folders.
            if os.path.basename(path) == "lib.rs":
                continue
            files.setdefault(path, set()).add(target)
            a, b = folder_of(path), folder_of(target)
            if a != b and a not in ("lib", "main"):
                folders.setdefault(a, set()).add(b)

bad = 0
MAX_LINES = 700
for dirpath, _, names in os.walk(SRC):
    for name in sorted(names):
        path = os.path.join(dirpath, name)
        if name.endswith(".rs") and sum(1 for _ in open(path, encoding="utf-8")) > MAX_LINES:
            bad += 1
            print(f"{os.path.relpath(path, SRC)} is over {MAX_LINES} lines: split it by what it owns")
for comp in circles(folders):
    bad += 1
    print("import circle between folders: " + " <-> ".join(comp))
    for a in comp:
        for b in sorted(folders.get(a, ())):
            if b in comp:
                users = sorted(os.path.relpath(f, SRC) for f, ts in files.items()
                               if folder_of(f) == a and any(folder_of(t) == b for t in ts))
                print(f"  {a} -> {b}: {', '.join(users)}")
for comp in circles(files):
    bad += 1
    print("import circle between files: " + " <-> ".join(os.path.relpath(f, SRC) for f in comp))
if bad:
    print("fix: move what both sides need below them, or pass it in (docs/ARCHITECTURE.md)")
    sys.exit(1)
print(f"layout: {len(folders)} folders, no import circles, no file over {MAX_LINES} lines")
