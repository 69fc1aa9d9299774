"""The README's configuration reference is generated from infra/config.py and cannot drift from it."""
from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest

from infra import config
from infra.config import AutoscalingConfig, EnvironmentConfig, LoadBalancerConfig, NetworkConfig, ServiceConfig
from tools import config_reference
from tools.config_reference import BEGIN, END

REGENERATE = "make docs"


def test_readme_configuration_reference_is_the_generated_one(capsys):
    stale = config_reference.main(["--check"])
    assert stale == 0, capsys.readouterr().out


def test_every_configuration_field_has_a_doc():
    missing = config_reference.undocumented(config)
    assert not missing, ("fields without a doc (a string literal on the line after the field, in infra/config.py): "
                         + ", ".join(missing))


def test_a_field_without_a_doc_is_reported(tmp_path, monkeypatch):
    # GIVEN a settings module with one documented field, one without a doc, and one with only a comment
    source = tmp_path / "settings_under_test.py"
    source.write_text(textwrap.dedent('''
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Settings:
            documented: int = 1
            """A documented field."""
            undocumented: int = 2
            commented: int = 3  # a comment is not a doc
    '''))
    spec = importlib.util.spec_from_file_location("settings_under_test", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "settings_under_test", module)
    spec.loader.exec_module(module)
    # WHEN its fields are checked THEN the two without a doc are named, class first
    assert config_reference.undocumented(module) == ["Settings.undocumented", "Settings.commented"]


def test_the_check_fails_with_a_diff_and_the_command_when_a_default_in_the_readme_differs(tmp_path, capsys):
    # GIVEN a README whose table says another default than infra/config.py
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\n{config_reference.render()}\n{END}\n".replace(
        "| `project` | `'notes'` |", "| `project` | `'other'` |"))
    # WHEN it is checked THEN the check fails, shows the line and says how to regenerate
    assert config_reference.main(["--check"], readme=readme) == 1
    out = capsys.readouterr().out
    assert "-| `project` | `'other'` |" in out and "+| `project` | `'notes'` |" in out
    assert REGENERATE in out


def test_write_replaces_only_the_section_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{BEGIN}\n| a hand-written table |\n{END}\nafter\n")
    config_reference.main(["--write"], readme=readme)
    assert readme.read_text() == f"before\n{BEGIN}\n{config_reference.render()}\n{END}\nafter\n"
    assert config_reference.main(["--check"], readme=readme) == 0


def test_a_readme_without_the_markers_is_refused_naming_them(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("| Field | Default |\n")
    with pytest.raises(SystemExit, match="config-reference:begin"):
        config_reference.main(["--write"], readme=readme)
    assert readme.read_text() == "| Field | Default |\n"


def test_nested_sections_get_dotted_names_and_their_defaults():
    table = config_reference.render()
    assert f"| `network.vpc_cidr` | `{NetworkConfig().vpc_cidr!r}` |" in table
    assert "| `service.autoscaling` | `None` |" in table  # optional: a row of its own
    assert f"| `service.autoscaling.max_count` | `{AutoscalingConfig().max_count}` |" in table
    assert "| `bootstrap.ci.github_repository` | (required) |" in table


def test_environment_columns_show_only_what_each_environment_changes():
    # GIVEN two environments, one of them with a bigger task and autoscaling
    plain = EnvironmentConfig(name="alpha", load_balancer=LoadBalancerConfig(http_only=True))
    scaled = EnvironmentConfig(name="beta", load_balancer=LoadBalancerConfig(http_only=True), service=ServiceConfig(
        cpu=512, memory=1024, migrations="task", desired_count=2, autoscaling=AutoscalingConfig(max_count=8)))
    # WHEN the reference is rendered with them
    table = config_reference.render({"alpha": plain, "beta": scaled})
    # THEN each gets a column by its name, showing a value only where it differs from the default
    assert "| Field | Default | alpha | beta | Meaning and allowed values |" in table
    assert f"| `service.cpu` | `{ServiceConfig().cpu}` | · | `512` |" in table
    assert "| `service.autoscaling` | `None` | · | `AutoscalingConfig` |" in table
    assert f"| `service.autoscaling.max_count` | `{AutoscalingConfig().max_count}` | · | `8` |" in table
    assert f"| `service.autoscaling.min_count` | `{AutoscalingConfig().min_count}` | · | · |" in table
    assert "| `name` | (required) | `'alpha'` | `'beta'` |" in table
