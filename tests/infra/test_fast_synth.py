"""The fast synth path writes exactly what the stock path writes, and falls back when it must."""
import filecmp
import importlib
import sys
import warnings
from pathlib import Path

import pytest

from infra import fast_synth
from tests.stacks import run_main


def files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.integration
def test_fast_and_stock_synth_write_byte_identical_output_for_every_stack(main_run, tmp_path):
    fast_result, fast_out = main_run
    stock_result = run_main(tmp_path, STOCK_SYNTH="1")
    assert fast_result.returncode == 0 and stock_result.returncode == 0, stock_result.stderr
    stock_out = tmp_path / "cdktf.out"
    assert sorted(files(fast_out)) == sorted(files(stock_out))
    assert files(fast_out) == files(stock_out)
    assert not filecmp.dircmp(fast_out, stock_out).diff_files


def test_tests_run_with_the_provider_index_skipped():
    # tests/conftest.py installs the shortcut; the session loads only the submodules it uses.
    importlib.import_module("cdktf_cdktf_provider_aws.vpc")
    loaded = [m for m in sys.modules if m.startswith("cdktf_cdktf_provider_aws.")]
    assert isinstance(sys.modules["cdktf_cdktf_provider_aws"], fast_synth._LazyPackage)
    assert 0 < len(loaded) < 200


def test_submodules_are_reachable_as_attributes_of_the_lazy_package():
    package = sys.modules["cdktf_cdktf_provider_aws"]
    assert package.kms_key.KmsKey is importlib.import_module("cdktf_cdktf_provider_aws.kms_key").KmsKey


def test_unexpected_package_layout_falls_back_to_the_stock_import_with_a_warning(monkeypatch):
    monkeypatch.setattr(fast_synth, "PACKAGE", "json")  # a package without the provider's layout
    monkeypatch.delitem(sys.modules, "json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fast_synth.skip_provider_index() is False
    assert "unexpected package layout; using the stock (slow) import" in str(caught[0].message)
    assert "json" not in sys.modules or not isinstance(sys.modules["json"], fast_synth._LazyPackage)


def test_stock_synth_setting_turns_the_shortcut_off(monkeypatch):
    monkeypatch.setenv("STOCK_SYNTH", "1")
    assert fast_synth.enabled() is False


def test_installed_provider_bindings_are_byte_compiled():
    # Installing without byte-compiling tripled synth time when measured (bench/synth.py); pip compiles by default.
    import cdktf_cdktf_provider_aws.vpc as vpc
    cache = Path(vpc.__file__).parent / "__pycache__"
    assert any(cache.glob("__init__.cpython-311*.pyc")), f"no bytecode in {cache}: reinstall without --no-compile"
