#!/usr/bin/env python3
"""Check Cargo.toml's rust-version against the locked dependencies.

CI has one Rust toolchain (no older one can be installed), so the declared
minimum cannot be proven by building with it. What can be checked: every
locked dependency declares the Rust version it needs, and ours must not be
lower than the highest of them. Exit 1, naming the package, when it is.
"""
import json
import subprocess
import sys


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
ours = next(p for p in meta["packages"] if p["id"] in meta["workspace_members"])
declared = ours.get("rust_version")
if not declared:
    sys.exit("Cargo.toml declares no rust-version")
need = max(
    (p for p in meta["packages"] if p.get("rust_version")),
    key=lambda p: version(p["rust_version"]),
)
if version(need["rust_version"]) > version(declared):
    sys.exit(
        f"rust-version {declared} is too low: {need['name']} {need['version']} "
        f"needs Rust {need['rust_version']}"
    )
print(f"rust-version {declared}: covers every locked dependency "
      f"(highest: {need['name']} {need['version']} needs {need['rust_version']})")
