"""Paths with a length limit live in a short, private folder outside the checkout (local/paths.py), and a
work folder too deep for Linux's PATH_MAX is refused before anything starts, naming the limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local import paths

ROOT = Path(__file__).resolve().parents[2]
# Deeper than any real checkout, and over PATH_MAX once what is created below it is added.
TOO_DEEP = Path("/tmp") / "/".join(["a folder with spaces" + "x" * 200] * 17)


def test_the_short_folder_is_the_same_for_one_owner_and_short_however_deep_the_owner_is(tmp_path):
    deep = tmp_path / "a folder with spaces" / ("d" * 250) / ("e" * 250)
    assert paths.short_folder(deep) == paths.short_folder(deep / ".." / deep.name)
    assert paths.short_folder(deep) != paths.short_folder(tmp_path)
    assert paths.short_folder(deep).parent == Path("/tmp")
    assert len(str(paths.podman_runroot(deep))) <= paths.PODMAN_RUNROOT_MAX
    assert len(str(paths.socket_path(deep, "haproxy.sock"))) <= paths.UNIX_SOCKET_MAX


def test_the_short_folder_is_created_owner_only_and_a_loose_one_of_ours_is_closed(tmp_path):
    folder = paths.short_folder(tmp_path)
    try:
        assert paths.ensure(folder).stat().st_mode & 0o777 == 0o700
        folder.chmod(0o755)
        assert paths.ensure(folder).stat().st_mode & 0o777 == 0o700
    finally:
        paths.remove(tmp_path)
    assert not folder.exists()


def test_a_link_in_place_of_the_short_folder_is_refused(tmp_path):
    folder = paths.short_folder(tmp_path)
    folder.symlink_to(tmp_path)
    try:
        with pytest.raises(paths.PathError, match="is not a folder of this user"):
            paths.ensure(folder)
    finally:
        folder.unlink()


def test_a_short_folder_made_by_another_user_is_refused(tmp_path, monkeypatch):
    folder = paths.ensure(paths.short_folder(tmp_path))
    try:
        # GIVEN the folder belongs to another uid (as one made in /tmp by someone else would)
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
        with pytest.raises(paths.PathError, match=f"{folder} exists but is not a folder of this user"):
            paths.ensure(folder)
    finally:
        monkeypatch.undo()
        paths.remove(tmp_path)


def test_a_path_over_its_limit_is_refused_naming_the_path_its_length_and_the_limit():
    with pytest.raises(paths.PathError) as error:
        paths.check("/tmp/" + "x" * 46, paths.PODMAN_RUNROOT_MAX, "podman's run root", "podman refuses a longer one")
    assert str(error.value).startswith(f"podman's run root would be 51 bytes long, over the limit of 50: /tmp/{'x' * 46}")


def test_a_work_folder_within_reach_of_path_max_is_refused_and_one_just_under_is_not():
    paths.check_workdir("/" + "x" * (paths.PATH_MAX - paths.DEEPEST - 1))
    with pytest.raises(paths.PathError, match=f"over the limit of {paths.PATH_MAX - paths.DEEPEST}"):
        paths.check_workdir("/" + "x" * (paths.PATH_MAX - paths.DEEPEST))


def test_the_start_up_check_runs_on_the_bare_system_python_and_exits_2_naming_the_limit():
    # The Makefile runs it before anything is installed: standard library only (-S: no site-packages).
    result = subprocess.run([sys.executable, "-S", "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                             "from local.paths import main; sys.exit(main(['--workdir', sys.argv[2]]))",
                             str(ROOT), str(TOO_DEEP)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"error: the work folder would be {len(os.fsencode(TOO_DEEP))} bytes long, over the limit of " \
           f"{paths.PATH_MAX - paths.DEEPEST}" in result.stderr
    assert "clone the repository into a shorter folder" in result.stderr


def test_runner_up_refuses_a_work_folder_too_deep_before_anything_starts():
    result = subprocess.run([sys.executable, "-m", "runner", "up", "--endpoint", "http://127.0.0.1:9", "--cluster",
                             "c", "--service", "s", "--registry", "127.0.0.1:9", "--workdir", str(TOO_DEEP)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, "over the limit of" in result.stderr) == (2, True), result.stderr
    assert not Path("/tmp/" + TOO_DEEP.parts[2]).exists(), "nothing was created"
