"""The git commit an image is tagged with, and the refusal to release uncommitted work."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from release.model import BadInput

ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def commit_tag(repo: Path = ROOT, allow_dirty: bool = False) -> str:
    """The short commit; with uncommitted changes, BadInput unless `allow_dirty` (then `<commit>-dirty-<hash>`)."""
    head = _git(repo, "rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        raise BadInput(f"{repo} is not a git checkout with a commit ({head.stderr.strip()}): the image tag is the "
                       "git commit; commit first")
    status = _git(repo, "status", "--porcelain")
    changes = [line for line in status.stdout.splitlines() if line.strip()]
    if not changes:
        return head.stdout.strip()
    if not allow_dirty:
        shown = ", ".join(line[3:] for line in changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise BadInput(f"the git tree has {len(changes)} uncommitted change(s) ({shown}): a release is tagged with "
                       "its commit, so commit or stash them first, or pass --allow-dirty to push a "
                       "`<commit>-dirty-<hash>` tag (never for prod)")
    # The hash of the uncommitted changes keeps two different dirty pushes from sharing an immutable tag.
    diff = _git(repo, "diff", "HEAD").stdout + status.stdout
    return f"{head.stdout.strip()}-dirty-{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
