"""python -m image base|build|push: the app's image from app/Dockerfile, and its push to the local registry
(image/build.py says how it is built here; image/tag.py how it is tagged)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from image.build import Buildah, ImageError, ImageSettings, build, cache_lock, ensure_base, push
from image.registry import Registry, RegistryError, RegistrySettings
from local.progress import say, step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["base", "build", "push"],
                        help="base: only the stand-in base; build: the app image; push: build, then push")
    parser.add_argument("--context", default=str(ImageSettings.context), help="build context (default app/)")
    parser.add_argument("--repository", default=ImageSettings.repository, help="repository name (default notes-app)")
    parser.add_argument("--workdir", default=str(RegistrySettings.workdir),
                        help="work folder of the registry and image.json (default .local-deploy)")
    parser.add_argument("--mirror", default=None, help="Debian mirror for the base (default: the one apt uses)")
    parser.add_argument("--tag", default=None, help="the image's tag (default: the git commit, image/tag.py)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="with uncommitted changes, tag <commit>-dirty-<hash> instead of refusing")
    args = parser.parse_args(argv)
    settings = ImageSettings(context=Path(args.context), repository=args.repository, mirror=args.mirror, tag=args.tag,
                             allow_dirty=args.allow_dirty)
    started = time.monotonic()
    try:
        if args.command == "base":
            with cache_lock(settings):
                say(f"base: {ensure_base(settings, Buildah(settings))}")
            return 0
        image = build(settings)
        say(f"image: {image.name} ({image.size})")
        if args.command == "push":
            registry = Registry(RegistrySettings(workdir=Path(args.workdir)))
            with step("starting the local registry (if not running)"):
                registry.start()
            pushed = push(image, registry, settings)
            say(f"pushed: {pushed.reference}")
            print(pushed.digest)
    except (ImageError, RegistryError) as error:
        say(f"error: {error}")
        return 1
    say(f"==> {args.command}: done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
