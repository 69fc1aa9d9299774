"""Build the app's image from app/Dockerfile with buildah (no Docker daemon) and push it to the local registry.

    python -m image build [--allow-dirty]       # base (once), wheelhouse (once), image; prints its tag and size
    python -m image push [--allow-dirty]        # build, start the registry if needed, push; prints the digest

Machines here cannot pull python:3.11-slim-bookworm nor reach PyPI from inside a build, so:
- the base is a stand-in built once from Debian bookworm packages (debootstrap: bookworm's python3 is
  3.11) and handed to the build in place of python:3.11-slim-bookworm with `--build-context`, which
  leaves the Dockerfile's FROM lines, and so `docker build app/` elsewhere, unchanged;
- the pinned dependencies come from a wheelhouse fetched on the host, checked against the hashes in
  Pipfile.lock, mounted read-only into the build at /wheels.
Both, and buildah's own image storage, are cached in ~/.cache/notes-app-image (survives `make demo-down`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from local import paths
from local.progress import step

from image.registry import Registry
from image.tag import ROOT, TagError, commit_tag

OFFICIAL_BASE = "python:3.11-slim-bookworm"
"""The FROM image of app/Dockerfile, which the stand-in replaces."""
# The wheels' platforms: the stand-in base is Debian bookworm (glibc 2.36) on x86_64, CPython 3.11.
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any")
# Which Debian package brings each tool, for the error that says what to install.
TOOLS = {"buildah": "buildah", "debootstrap": "debootstrap", "git": "git", "tar": "tar"}


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "notes-app-image"


class ImageError(Exception):
    """A build or push step failed; the message says which and what to do next."""


@dataclass(frozen=True)
class ImageSettings:
    """What is built and where the reusable parts are kept; every default works from a clone."""

    context: Path = ROOT / "app"
    """The build context; its Dockerfile is the one `docker build app/` uses."""
    repository: str = "notes-app"
    """The repository name, in the local buildah storage and in the registry."""
    cache: Path = field(default_factory=_default_cache)
    """Base image tarball, wheelhouses and buildah's storage ($XDG_CACHE_HOME or ~/.cache, notes-app-image/)."""
    lockfile: Path = ROOT / "Pipfile.lock"
    """Where the hashes of the pinned dependencies come from."""
    suite: str = "bookworm"
    """The Debian release of the stand-in base (python:3.11-slim-bookworm is bookworm too)."""
    base_packages: tuple[str, ...] = ("python3", "python3-venv", "python-is-python3")
    """Debian packages of the stand-in base: Python 3.11, its venv module, and `python` on PATH."""
    mirror: str | None = None
    """Debian mirror for debootstrap; None: the one apt uses (/etc/apt/sources.list*)."""
    tag: str | None = None
    """The image's tag; None: the git commit (image/tag.py). Set it to build and push under one tag even
    if a commit lands in between."""
    allow_dirty: bool = False
    """With tag None and uncommitted changes: tag `<commit>-dirty-<hash>` instead of refusing (image/tag.py)."""
    storage_driver: str = field(default_factory=lambda: os.environ.get("STORAGE_DRIVER") or "overlay")
    """buildah's storage driver: overlay (fast; $STORAGE_DRIVER overrides), vfs where overlay cannot mount."""

    @property
    def requirements(self) -> Path:
        return Path(self.context) / "requirements.txt"


@dataclass(frozen=True)
class BuiltImage:
    name: str
    """Local name in buildah's storage: localhost/<repository>:<tag>."""
    repository: str
    tag: str
    image_id: str
    size: str
    """As buildah reports it, e.g. "408 MB" (uncompressed)."""


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    registry: str
    """host:port of the registry."""
    digest: str
    """The manifest digest (sha256:...) the registry serves for the tag."""

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def pinned(self) -> str:
        """The reference by digest, immutable like an ECR image URI with @sha256:..."""
        return f"{self.registry}/{self.repository}@{self.digest}"


# -- running tools ------------------------------------------------------------------------------------

def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ImageError(f"{tool} is not installed: apt-get install {TOOLS.get(tool, tool)} (or run tools/setup.sh containers)")
    return path


def _run(argv: list[str], what: str, advice: str, env: dict[str, str] | None = None,
         log: Path | None = None, timeout: float = 1800) -> str:
    """Run a command; on failure raise with the end of its output and what to do next."""
    require(argv[0])
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        where = f" (full output: {log})" if log else ""
        raise ImageError(f"{what} failed (exit {result.returncode}){where}; {advice}\n{tail}\n"
                         f"  command: {shlex.join(argv)}")
    return result.stdout


class Buildah:
    """buildah with its own storage under the cache, so that it never meets podman's storage settings; its run
    root is short and outside the cache, as podman's must be (local.paths), since the cache may be deep."""

    def __init__(self, settings: ImageSettings) -> None:
        self.storage = Path(settings.cache) / f"storage-{settings.storage_driver}"
        try:
            paths.check_workdir(settings.cache, "the image cache", "set XDG_CACHE_HOME to a shorter folder")
            if ":" in str(Path(settings.cache).resolve()):
                raise paths.PathError(f"the image cache {settings.cache} has a ':', which ends the wheelhouse's "
                                      "path in buildah's --volume SRC:DEST: set XDG_CACHE_HOME to a folder without one")
            runroot = paths.podman_runroot(self.storage)
            paths.ensure(runroot.parent)
        except paths.PathError as error:
            raise ImageError(str(error)) from None
        self.prefix = ["buildah", "--root", str(self.storage / "root"), "--runroot", str(runroot),
                       "--storage-driver", settings.storage_driver]
        # chroot isolation: RUN steps work without user namespaces or a container runtime.
        self.env = os.environ | {"BUILDAH_ISOLATION": "chroot", "STORAGE_DRIVER": settings.storage_driver}
        self.driver = settings.storage_driver

    def __call__(self, *args: str, what: str, log: Path | None = None) -> str:
        advice = ("if it says the overlay file system cannot be mounted, set STORAGE_DRIVER=vfs and retry"
                  if self.driver == "overlay" else "read the output above")
        return _run(self.prefix + list(args), what, advice, env=self.env, log=log)

    def has_image(self, name: str) -> bool:
        require("buildah")
        return subprocess.run(self.prefix + ["inspect", "--type", "image", name], env=self.env,
                              capture_output=True).returncode == 0

    def size(self, image_id: str) -> str:
        listing = self("images", "--no-trunc", "--format", "{{.ID}} {{.Size}}", what="listing images")
        sizes = dict(line.split(None, 1) for line in listing.splitlines() if " " in line.strip())
        return sizes.get(image_id) or sizes.get(f"sha256:{image_id}", "unknown size")


@contextlib.contextmanager
def cache_lock(settings: ImageSettings):
    """One process at a time fills the cache (`make demo` and a test session may build at once)."""
    Path(settings.cache).mkdir(parents=True, exist_ok=True)
    with open(Path(settings.cache) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# -- the stand-in base image -----------------------------------------------------------------------------

def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt is configured with (deb822 .sources or one-line .list files)."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822: "URIs: http://deb.debian.org/debian"; one-line: "deb [opts] http://... bookworm main".
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M):
            if re.search(r"/debian/?$", uri):
                return uri
    raise ImageError("no Debian mirror found in /etc/apt/sources.list*: pass --mirror http://deb.debian.org/debian")


def _base_key(settings: ImageSettings) -> str:
    recipe = json.dumps([settings.suite, sorted(settings.base_packages), "minbase", "no-apt-cache"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_name(settings: ImageSettings) -> str:
    return f"localhost/notes-base:{settings.suite}-{_base_key(settings)}"


def ensure_base(settings: ImageSettings, buildah: Buildah) -> str:
    """The stand-in base in buildah's storage, built from Debian packages the first time (about 1 min)."""
    name = base_name(settings)
    if buildah.has_image(name):
        return name
    cache = Path(settings.cache)
    tarball = cache / f"base-{settings.suite}-{_base_key(settings)}.tar"
    if not tarball.exists():
        require("debootstrap")
        if os.geteuid() != 0:
            raise ImageError("debootstrap needs root to build the stand-in base: run this as root "
                             f"once (the result is cached in {cache})")
        mirror = settings.mirror or apt_mirror()
        work = cache / "base-work"
        shutil.rmtree(work, ignore_errors=True)
        rootfs = work / "rootfs"
        with step(f"building the stand-in base from Debian {settings.suite} ({mirror}; about 1 min, once)"):
            _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(settings.base_packages),
                  settings.suite, str(rootfs), mirror],
                 "debootstrap", f"check that {mirror} is reachable (apt-get update works?)", log=work / "debootstrap.log")
            # The downloaded .deb files and package lists are not part of a slim image.
            for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for item in (rootfs / folder).glob("*"):
                    if item.is_file():
                        item.unlink()
            partial = tarball.with_suffix(".tar.partial")
            _run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."],
                 "packing the base", "check free disk space")
            partial.rename(tarball)
            shutil.rmtree(work)
    with step(f"importing the stand-in base as {name}"):
        context = cache / "base-context"
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        try:
            os.link(tarball, context / "rootfs.tar")  # no copy of 270 MB when on the same file system
        except OSError:
            shutil.copy(tarball, context / "rootfs.tar")
        (context / "Containerfile").write_text('FROM scratch\nADD rootfs.tar /\nCMD ["python3"]\n')
        buildah("bud", "--timestamp", "0", "-t", name, str(context), what="importing the base",
                log=cache / "logs" / "base.log")
        shutil.rmtree(context)
    return name


# -- the wheelhouse ---------------------------------------------------------------------------------------

def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def hashed_requirements(requirements: Path, lockfile: Path) -> str:
    """requirements.txt with, for each pin, the sha256 hashes Pipfile.lock records for that version."""
    lock = json.loads(lockfile.read_text())
    locked = {_normal(name): entry for section in ("develop", "default") for name, entry in lock.get(section, {}).items()}
    lines = []
    for line in requirements.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        entry = locked.get(_normal(name))
        if not version or entry is None or entry.get("version") != f"=={version}" or not entry.get("hashes"):
            found = entry.get("version") if entry else "nothing"
            raise ImageError(f"{requirements} pins {line!r} but {lockfile.name} has {found} for it: "
                             "make requirements.txt match the lock (pipenv lock, then update the pins)")
        lines.append(f"{line} " + " ".join(f"--hash={h}" for h in entry["hashes"]))
    return "\n".join(lines) + "\n"


def ensure_wheelhouse(settings: ImageSettings) -> Path:
    """A folder with one wheel per pin, downloaded on the host (which trusts the package proxy) and hash-checked."""
    hashed = hashed_requirements(settings.requirements, Path(settings.lockfile))
    key = hashlib.sha256((hashed + " ".join(WHEEL_PLATFORMS)).encode()).hexdigest()[:12]
    wheels = Path(settings.cache) / f"wheels-{key}"
    if (wheels / "requirements.txt").exists():
        return wheels
    partial = wheels.with_name(wheels.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "requirements.in").write_text(hashed)
    platforms = [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    with step(f"downloading {hashed.count(chr(10))} pinned wheels, hash-checked against {Path(settings.lockfile).name}"):
        _run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet", "--no-deps",
              "--require-hashes", "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
              "--abi", "cp311", *platforms, "-r", str(partial / "requirements.in"), "-d", str(partial)],
             "pip download", "check that the package index is reachable from this machine (pip config, proxy)",
             log=Path(settings.cache) / "logs" / "wheels.log")
    (partial / "requirements.in").rename(partial / "requirements.txt")
    partial.rename(wheels)
    return wheels


# -- the app image ----------------------------------------------------------------------------------------

def build(settings: ImageSettings = ImageSettings()) -> BuiltImage:
    """Build app/Dockerfile on the stand-in base with the wheelhouse mounted; layers are cached."""
    context = Path(settings.context)
    if not (context / "Dockerfile").is_file():
        raise ImageError(f"no Dockerfile in {context}: pass --context with the app's folder")
    buildah = Buildah(settings)
    try:
        tag = settings.tag or commit_tag(ROOT, allow_dirty=settings.allow_dirty)
    except TagError as error:
        raise ImageError(str(error)) from None
    name = f"localhost/{settings.repository}:{tag}"
    # One process at a time, the build included: two builds of one tag in one storage at once (two test
    # workers, a user's second terminal) would each move the tag, and one's inspect could read the other's image.
    with cache_lock(settings):
        base = ensure_base(settings, buildah)
        wheels = ensure_wheelhouse(settings)
        with step(f"building {name} from {context}/Dockerfile"):
            buildah("bud", "--layers", "--pull=never",
                    "--build-context", f"{OFFICIAL_BASE}=container-image://{base}",
                    "--volume", f"{wheels}:/wheels:ro",
                    "--build-arg", "PIP_OPTIONS=--no-index --find-links /wheels",
                    "-t", name, str(context),
                    what=f"buildah bud {context}", log=Path(settings.cache) / "logs" / "build.log")
        image_id = buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", name,
                           what=f"inspecting {name}").strip()
    return BuiltImage(name=name, repository=settings.repository, tag=tag, image_id=image_id, size=buildah.size(image_id))


def push(image: BuiltImage, registry: Registry, settings: ImageSettings = ImageSettings()) -> PushedImage:
    """Push to the local registry (plain HTTP on loopback) and record the digest in <workdir>/image.json."""
    address = registry.address
    destination = f"docker://{address}/{image.repository}:{image.tag}"
    digestfile = registry.settings.folder / "last-push.digest"
    with step(f"pushing {image.name} to {address}"):
        Buildah(settings)("push", "--tls-verify=false", "--digestfile", str(digestfile), image.name, destination,
                          what=f"buildah push to {address}")
    pushed = PushedImage(repository=image.repository, tag=image.tag, registry=address,
                         digest=digestfile.read_text().strip())
    record = Path(registry.settings.workdir) / "image.json"
    record.write_text(json.dumps({"repository": pushed.repository, "tag": pushed.tag, "registry": address,
                                  "reference": pushed.reference, "digest": pushed.digest,
                                  "image_id": image.image_id, "size": image.size}, indent=2) + "\n")
    return pushed


def last_pushed(workdir: Path) -> PushedImage:
    """What the last push from this work folder recorded."""
    record = Path(workdir) / "image.json"
    if not record.exists():
        raise ImageError(f"nothing pushed from {workdir} yet: run `python -m image push`")
    data = json.loads(record.read_text())
    return PushedImage(repository=data["repository"], tag=data["tag"], registry=data["registry"], digest=data["digest"])
