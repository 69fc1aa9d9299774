"""One tag rule for `make demo`, `python -m release` and the tests (image/tag.py): the commit; uncommitted
changes refused unless asked, then a tag of their own that differs for every different change."""

from __future__ import annotations

import subprocess

import pytest

from image.tag import TagError, commit_tag


@pytest.fixture
def repo(tmp_path):
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return tmp_path


def test_a_clean_tree_is_tagged_with_its_short_commit(repo):
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    assert commit_tag(repo) == commit_tag(repo, allow_dirty=True) == head.stdout.strip()


def test_a_dirty_tree_is_refused_naming_the_changed_file(repo):
    (repo / "a.txt").write_text("two\n")
    with pytest.raises(TagError, match=r"1 uncommitted change\(s\) \(a.txt\).*or pass --allow-dirty"):
        commit_tag(repo)


def test_an_untracked_file_makes_the_tree_dirty_too(repo):
    (repo / "new.py").write_text("x = 1\n")
    with pytest.raises(TagError, match=r"1 uncommitted change\(s\) \(new.py\)"):
        commit_tag(repo)


def test_a_dirty_tree_with_allow_dirty_gets_a_tag_of_its_own_for_each_different_change(repo):
    clean = commit_tag(repo)
    (repo / "a.txt").write_text("two\n")
    first = commit_tag(repo, allow_dirty=True)
    assert first.startswith(f"{clean}-dirty-") and len(first) == len(clean) + len("-dirty-") + 8
    assert commit_tag(repo, allow_dirty=True) == first, "the same change, the same tag"
    (repo / "a.txt").write_text("three\n")
    assert commit_tag(repo, allow_dirty=True) != first


def test_two_different_untracked_contents_get_different_tags(repo):
    # ECR's tags are immutable: two builds of different content under one tag would collide at push.
    (repo / "new.py").write_text("x = 1\n")
    first = commit_tag(repo, allow_dirty=True)
    (repo / "new.py").write_text("x = 2\n")
    assert commit_tag(repo, allow_dirty=True) != first


def test_a_folder_that_is_not_a_git_checkout_is_refused_saying_to_commit(tmp_path):
    with pytest.raises(TagError, match=r"is not a git checkout with a commit .*: the image tag is the git commit"):
        commit_tag(tmp_path)
