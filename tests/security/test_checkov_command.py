"""checkov's venv script runs through the venv's python: its `#!` line cannot run from a path with a space
(the kernel splits it at the first space), which is where users clone (found by CI's deep clone)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from security.scan import checkov_command


def test_a_venv_script_runs_through_its_python_even_in_a_path_with_a_space(tmp_path, monkeypatch):
    # GIVEN a venv-like bin folder in a path with spaces, and a script whose shebang names its python
    folder = tmp_path / "a folder with spaces" / "bin"
    folder.mkdir(parents=True)
    (folder / "python").symlink_to(sys.executable)
    script = folder / "checkov"
    script.write_text(f"#!{folder / 'python'}\nprint('ran')\n")
    script.chmod(0o755)
    monkeypatch.setenv("CHECKOV", str(script))
    # THEN the script cannot be run by its own shebang there
    with pytest.raises(OSError):
        subprocess.run([str(script)], capture_output=True)
    # AND the command the scan uses runs it
    assert subprocess.run(checkov_command(), capture_output=True, text=True).stdout == "ran\n"


def test_a_checkov_without_a_python_beside_it_runs_as_given(tmp_path, monkeypatch):
    binary = tmp_path / "checkov"
    binary.write_text("#!/bin/sh\necho ran\n")
    binary.chmod(0o755)
    monkeypatch.setenv("CHECKOV", str(binary))
    assert checkov_command() == [str(binary)]


def test_a_missing_checkov_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKOV", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"run `tools/setup.sh checkov`"):
        checkov_command()
