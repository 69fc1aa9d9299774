"""image/archive.py: what `python -m release build` writes is read back as one image's tag and digest, and any
other file is refused naming it and saying how to write a good one (never a traceback, never a guess)."""
from __future__ import annotations

import io
import json
import tarfile

import pytest

from image.archive import read
from image.build import ImageError
from tests.release.conftest import tiny_archive

DIGEST = "sha256:" + "ab" * 32


def _tar(path, files: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _index(*manifests: dict) -> bytes:
    return json.dumps({"schemaVersion": 2, "manifests": list(manifests)}).encode()


def _manifest(digest=DIGEST, tag="0123456789ab") -> dict:
    annotations = {"org.opencontainers.image.ref.name": tag} if tag is not None else {}
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1,
            "annotations": annotations}


def test_an_archive_is_read_as_its_tag_and_manifest_digest(tmp_path):
    made = tiny_archive(tmp_path / "image.tar", "0123456789ab")
    assert (made.tag, made.digest.startswith("sha256:"), read(made.path)) == ("0123456789ab", True, made)


@pytest.mark.parametrize("files, said", [
    ({"oci-layout": b"{}"}, "is not an OCI image archive"),
    ({"index.json": b"not json"}, "is not an OCI image archive"),
    ({"index.json": _index()}, "holds 0 images, not one"),
    ({"index.json": _index(_manifest(), _manifest(tag="other"))}, "holds 2 images, not one"),
    ({"index.json": _index(_manifest(digest="sha256:xyz"))}, "names no sha256 digest and tag"),
    ({"index.json": _index(_manifest(digest="md5:" + "a" * 32))}, "names no sha256 digest and tag"),
    ({"index.json": _index(_manifest(tag=None))}, "names no sha256 digest and tag"),
    ({"index.json": b"[]"}, "is not an OCI image archive"),
    ({"index.json": b"5"}, "is not an OCI image archive"),
    ({"index.json": b"{\"manifests\": \"x\"}"}, "is not an OCI image archive"),
    ({"index.json": _index("not a manifest")}, "names no sha256 digest and tag"),
    ({"index.json": _index(_manifest(tag=""))}, "names no sha256 digest and tag"),
    ({"index.json": _index(_manifest(tag="../../x"))}, "names no sha256 digest and tag"),
    ({"index.json": _index(_manifest(tag="a b"))}, "names no sha256 digest and tag"),
])
def test_a_file_that_is_not_one_image_s_archive_is_refused_naming_it(tmp_path, files, said):
    path = _tar(tmp_path / "image.tar", files)
    with pytest.raises(ImageError, match=rf"{path}.*{said}.*python -m release build"):
        read(path)


@pytest.mark.parametrize("make", [lambda p: p.write_text("plain text"), lambda p: p.mkdir(), lambda p: None])
def test_a_file_that_is_not_a_tar_or_no_file_at_all_is_refused(tmp_path, make):
    path = tmp_path / "image.tar"
    make(path)
    with pytest.raises(ImageError, match=rf"{path}"):
        read(path)
