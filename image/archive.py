"""The image as one file: built once, then copied by digest into each environment's repository.

    archive = export(built, Path("image.tar"))       # buildah push to an OCI archive (layers gzip-compressed)
    archive = read(Path("image.tar"))                # its tag and manifest digest, from the archive's index.json
    digest = copy(archive, "host/repo:tag", auth)    # skopeo copy --preserve-digests: the same digest, or an error

The archive holds the manifest's bytes, so every repository it is copied to serves the same digest: what dev
verified is what prod runs. `skopeo copy --preserve-digests` refuses instead of converting (a registry that would
need another manifest format fails the copy, it never gets a different image).
"""
from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from image.build import Buildah, BuiltImage, ImageError, ImageSettings, require
from local.progress import step

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # a registry's (and ECR's) tag rule
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Archive:
    path: Path
    tag: str
    """The tag it was built under (the git commit, image/tag.py), kept in the archive's index."""
    digest: str
    """The manifest's digest: what every repository it is copied to serves, and what task definitions pin."""


def export(built: BuiltImage, path: Path, settings: ImageSettings = ImageSettings()) -> Archive:
    """Write `built` to an OCI archive at `path` (replaced whole: a partial file never has the final name)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with step(f"writing {built.name} to {path}"):
        Buildah(settings)("push", "--format", "oci", "--compression-format", "gzip", built.name,
                          f"oci-archive:{partial}:{built.tag}", what=f"buildah push to {path}")
    partial.replace(path)
    return read(path)


def read(path: Path) -> Archive:
    """The archive's tag and digest; ImageError naming the file when it is not one image's OCI archive."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no image archive at {path}: write one with `python -m release build --output {path}`")
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("index.json")
            index = json.loads(member.read()) if member else None
    except (tarfile.TarError, KeyError, OSError, ValueError) as error:
        raise ImageError(f"{path} is not an OCI image archive ({error}): write one with "
                         f"`python -m release build --output {path}`") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
        raise ImageError(f"{path} is not an OCI image archive (its index.json is not an image index): write one with "
                         f"`python -m release build --output {path}`")
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise ImageError(f"{path} holds {len(manifests)} images, not one: write it with `python -m release build`")
    entry = manifests[0] if isinstance(manifests[0], dict) else {}
    digest, tag = entry.get("digest", ""), (entry.get("annotations") or {}).get(REF_NAME, "")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest) or not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise ImageError(f"{path}'s index names no sha256 digest and tag ({manifests[0]}): write it with "
                         "`python -m release build`")
    return Archive(path=path, tag=tag, digest=digest)


def copy(archive: Archive, destination: str, auth: dict, tls: bool = True) -> str:
    """Copy the archive to `destination` (host/repository:tag) by digest; return the digest the registry stored
    (ImageError unless it is the archive's). `auth` is a registry auth file's content; it is written to a private
    file, never put on a command line."""
    require("skopeo")
    with tempfile.TemporaryDirectory(prefix="image-copy-") as folder:
        authfile, digestfile = Path(folder) / "auth.json", Path(folder) / "digest"
        authfile.touch(mode=0o600)
        authfile.write_text(json.dumps(auth))
        argv = ["skopeo", "copy", "--preserve-digests", "--retry-times", "3", f"--dest-tls-verify={str(tls).lower()}",
                "--dest-authfile", str(authfile), "--digestfile", str(digestfile),
                f"oci-archive:{archive.path}", f"docker://{destination}"]
        with step(f"copying {archive.tag} ({archive.digest[:19]}) to {destination}"):
            result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            raise ImageError(f"skopeo copy to {destination} failed (exit {result.returncode}): {tail}\nCheck the "
                             "registry's address and credentials, then run the same command again")
        stored = digestfile.read_text().strip()
    if stored != archive.digest:
        raise ImageError(f"{destination} stored {stored}, not the archive's {archive.digest}: the registry "
                         "changed the image; nothing may deploy it")
    return stored

