"""main.py: writes every stack, or on bad input writes nothing and says what to fix."""
from pathlib import Path

import pytest

import main
from tests.infra.conftest import run_main


@pytest.mark.integration
def test_main_writes_the_bootstrap_stack_and_one_stack_per_environment(main_run, outdir):
    result, out = main_run
    assert result.returncode == 0, result.stderr
    stacks = sorted(p.name for p in (out / "stacks").iterdir())
    assert stacks == ["bootstrap", "dev", "prod"]
    assert (out / "manifest.json").is_file()
    # What the tests assert is exactly what main.py writes.
    for stack in stacks:
        assert (out / "stacks" / stack / "cdk.tf.json").read_bytes() == \
            (outdir / "stacks" / stack / "cdk.tf.json").read_bytes()
    assert "wrote 3 stacks" in result.stdout


def test_unknown_environment_writes_nothing_and_names_the_known_ones(tmp_path):
    result = run_main(tmp_path, ENVIRONMENTS="dev,staging")
    assert result.returncode == 2
    assert "environment: 'staging' is not defined; known environments: dev, prod" in result.stderr
    assert "nothing was written" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_invalid_image_tag_leaves_the_previous_output_untouched(tmp_path):
    previous = tmp_path / "cdktf.out" / "marker"
    previous.parent.mkdir()
    previous.write_text("previous synth")
    result = run_main(tmp_path, IMAGE_TAG="not a tag")
    assert result.returncode == 2
    assert "service.image_tag: 'not a tag' is neither an image tag" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert previous.read_text() == "previous synth"


def test_a_synth_that_fails_half_way_leaves_no_partial_output(tmp_path, monkeypatch):
    previous = tmp_path / "cdktf.out" / "marker"
    previous.parent.mkdir()
    previous.write_text("previous synth")

    def half_written(outdir: Path, envs) -> list[str]:
        (outdir / "stacks" / "dev").mkdir(parents=True)
        (outdir / "stacks" / "dev" / "cdk.tf.json").write_text("{")
        raise RuntimeError("synth failed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(main, "synthesize", half_written)
    with pytest.raises(RuntimeError, match="synth failed"):
        main.main()
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert [p.name for p in (tmp_path / "cdktf.out").iterdir()] == ["marker"]


@pytest.mark.integration
def test_output_folder_given_by_cdktf_outdir_is_created_with_its_parents(tmp_path):
    result = run_main(tmp_path, ENVIRONMENTS="dev", CDKTF_OUTDIR=str(tmp_path / "new" / "cdktf.out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "new" / "cdktf.out" / "stacks").iterdir()) == ["bootstrap", "dev"]
