"""The one rule for an image's tag, the same for `make demo`, `python -m release` and the tests: the git commit.

A tree with uncommitted changes is refused unless the caller asks (`allow_dirty`): then the tag is
`<commit>-dirty-<hash>`, the hash of those changes (the diff of tracked files and the content of untracked
ones), so that two different uncommitted builds never share a tag (ECR's tags are immutable). `make demo`
asks (it runs what you have), `python -m release` only with --allow-dirty (never for prod), the tests ask.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class TagError(Exception):
    """No tag can be given: not a git checkout, or uncommitted changes nobody allowed."""


def _git(repo: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=text)


def commit_tag(repo: Path = ROOT, allow_dirty: bool = False) -> str:
    """The short commit; with uncommitted changes, TagError unless `allow_dirty` (then `<commit>-dirty-<hash>`)."""
    head = _git(repo, "rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        raise TagError(f"{repo} is not a git checkout with a commit ({head.stderr.strip()}): the image tag is the "
                       "git commit; commit first")
    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    changes = [line for line in status.stdout.splitlines() if line.strip()]
    if not changes:
        return head.stdout.strip()
    if not allow_dirty:
        shown = ", ".join(line[3:] for line in changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise TagError(f"the git tree has {len(changes)} uncommitted change(s) ({shown}): an image is tagged with "
                       "its commit, so commit or stash them first, or pass --allow-dirty for a "
                       "`<commit>-dirty-<hash>` tag (never for prod)")
    digest = hashlib.sha256(_git(repo, "diff", "HEAD", "--binary", text=False).stdout)
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "-z", text=False).stdout
    for name in sorted(filter(None, untracked.split(b"\0"))):
        path = Path(repo) / os.fsdecode(name)
        content = os.fsencode(os.readlink(path)) if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        digest.update(b"\0" + name + b"\0" + content)
    return f"{head.stdout.strip()}-dirty-{digest.hexdigest()[:8]}"
