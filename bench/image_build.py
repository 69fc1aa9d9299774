"""Benchmark: the app image's cold and warm build, a rebuild after an app change, and the push times.

    .venv/bin/python bench/image_build.py [--out .local-deploy/bench/image_build.json] [--no-cold]

Cold: a fresh cache folder (stand-in base from Debian packages by debootstrap, wheelhouse, buildah
storage), as on a fresh machine. Warm: the same build again (every layer cached). Changed: a copy of
app/ with one changed file (the app layers only). Pushes go to a throw-away local registry: the first
sends every layer, the second (the changed app) only the new ones. Prints the figures and writes them
as JSON; asserts nothing. Needs root (debootstrap) and the Debian packages of `tools/setup.sh containers`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local import WORKDIR  # noqa: E402

from image.build import Buildah, ImageSettings, build, ensure_base, ensure_wheelhouse, push  # noqa: E402
from image.registry import Registry, RegistrySettings  # noqa: E402


def timed(figures: dict, name: str, call):
    started = time.monotonic()
    result = call()
    figures[name] = round(time.monotonic() - started, 1)
    print(f"{name:<34} {figures[name]:>7.1f} s", flush=True)
    return result


def pushed_bytes(reference: str) -> int:
    """Sum of the compressed layer sizes in the manifest the registry serves (what a task downloads)."""
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    manifest = json.loads(raw)
    return sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(WORKDIR / "bench" / "image_build.json"),
                        help="where the figures go as JSON (default .local-deploy/bench/image_build.json, git-ignored)")
    parser.add_argument("--no-cold", action="store_true", help="reuse the machine's cache (no debootstrap)")
    args = parser.parse_args()
    figures: dict[str, object] = {"machine": f"{platform.node()} {platform.machine()}",
                                  "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="image-bench-") as scratch:
        scratch = Path(scratch)
        # Tags of the benchmark's own (image/tag.py would refuse a dirty tree, and the changed app needs another).
        settings = ImageSettings(tag="bench") if args.no_cold else ImageSettings(cache=scratch / "cache", tag="bench")
        registry = Registry(RegistrySettings(workdir=scratch / "work"))
        try:
            started = time.monotonic()
            timed(figures, "base_seconds", lambda: ensure_base(settings, Buildah(settings)))
            timed(figures, "wheelhouse_seconds", lambda: ensure_wheelhouse(settings))
            image = timed(figures, "first_build_seconds", lambda: build(settings))
            figures["cold_build_seconds"] = round(time.monotonic() - started, 1)
            print(f"{'cold_build_seconds (base + wheels + build)':<34} {figures['cold_build_seconds']:>7.1f} s")
            timed(figures, "warm_build_seconds", lambda: build(settings))
            registry.start()
            first = timed(figures, "first_push_seconds", lambda: push(image, registry, settings))
            changed = scratch / "app"
            shutil.copytree(settings.context, changed, ignore=shutil.ignore_patterns("__pycache__"))
            with (changed / "__init__.py").open("a") as f:
                f.write("\n# changed for the benchmark\n")
            changed_settings = ImageSettings(context=changed, cache=settings.cache, tag="bench-changed")
            changed_image = timed(figures, "changed_app_build_seconds", lambda: build(changed_settings))
            timed(figures, "changed_app_push_seconds", lambda: push(changed_image, registry, settings))
            figures["image_size"] = image.size
            figures["pushed_compressed_mb"] = round(pushed_bytes(first.reference) / 1e6, 1)
            print(f"{'image_size (uncompressed)':<34} {image.size:>9}")
            print(f"{'pushed_compressed_mb':<34} {figures['pushed_compressed_mb']:>7.1f} MB")
        finally:
            registry.stop()
            if not args.no_cold:  # the scratch cache holds root-owned image layers: buildah removes them
                subprocess.run(Buildah(settings).prefix + ["rmi", "--all", "--force"], capture_output=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
