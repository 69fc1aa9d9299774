"""The README's configuration reference, generated so that it cannot drift from the code: each field's doc (the
string literal after it in infra/config.py, read with `ast`) and its default. `python -m tools.config_reference`
prints it (`--environments`: with what each environment sets), `--write` rewrites the README's section between
the markers (`make docs`), `--check` exits 1 with a diff when that section is stale.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import re
import sys
import typing
from pathlib import Path

from infra import config

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- config-reference:begin (generated from infra/config.py by `make docs`: edit the field docs there) -->"
END = "<!-- config-reference:end -->"


def field_docs(module) -> dict[str, dict[str, str]]:
    """{class name: {field: doc}}: each doc is the string literal right after the field in the module's source."""
    classes = [node for node in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(node, ast.ClassDef)]
    return {cls.name: {field.target.id: inspect.cleandoc(doc.value.value)
                       for field, doc in zip(cls.body, cls.body[1:])
                       if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                       and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                       and isinstance(doc.value.value, str)}
            for cls in classes}


def undocumented(module) -> list[str]:
    """`Class.field` of every dataclass field in the module that has no doc."""
    docs = field_docs(module)
    return [f"{cls.__name__}.{f.name}" for cls in vars(module).values()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
            for f in dataclasses.fields(cls) if f.name not in docs.get(cls.__name__, {})]


def _section(cls, name: str):
    """The settings class a field holds (also when optional: `AutoscalingConfig | None`), or None."""
    hint = typing.get_type_hints(cls)[name]
    return next((t for t in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(t)), None)


def _cell(value) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    return "`" + (type(value).__name__ if dataclasses.is_dataclass(value) else repr(value)).replace("|", "\\|") + "`"


def rows(cls, values: list, docs: dict, prefix: str = "") -> list[list[str]]:
    """One row per field (sections flattened to dotted names): field, default, each value where it differs, doc."""
    table = []
    for f in dataclasses.fields(cls):
        has_factory = f.default_factory is not dataclasses.MISSING
        default, section = f.default_factory() if has_factory else f.default, _section(cls, f.name)
        current = [getattr(v, f.name) if v is not None else default for v in values]
        if section is None or default is None:  # an optional section gets a row of its own: None means off
            shown = [_cell(v) if v != default else "·" for v in current]
            doc = " ".join(docs[cls.__name__].get(f.name, "(no doc)").split()).replace("|", "\\|")
            table.append([f"`{prefix}{f.name}`", _cell(default), *shown, doc])
        if section is not None:
            table += rows(section, current, docs, f"{prefix}{f.name}.")
    return table


def render(envs: dict | None = None, bootstrap=None, module=config) -> str:
    """The reference; with `envs` (and `bootstrap`), one more column per environment (and the bootstrap stack's)."""
    envs, docs, meaning = envs or {}, field_docs(module), "Meaning and allowed values"
    def _table(header: list[str], body: list[list[str]]) -> str:
        return "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *body])
    return "\n".join([
        _table(["Field", "Default", *envs, meaning], rows(module.EnvironmentConfig, list(envs.values()), docs)),
        "", "The bootstrap stack (`BOOTSTRAP`), which holds every environment's Terraform state:", "",
        _table(["Field", "Default", *(["`BOOTSTRAP`"] if bootstrap else []), meaning],
               rows(module.BootstrapConfig, [bootstrap] if bootstrap else [], docs, "bootstrap."))])


def replace_section(text: str, reference: str) -> str:
    """The README text with the part between the markers replaced by `reference`."""
    pattern = re.compile(r"<!-- config-reference:begin.*?-->\n.*?" + re.escape(END), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"error: README.md must hold one section between the lines\n  {BEGIN}\n  {END}\n"
                         "add them where the configuration reference belongs")
    return pattern.sub(lambda _: f"{BEGIN}\n{reference}\n{END}", text)


def main(argv: list[str] | None = None, readme: Path = README) -> int:
    parser = argparse.ArgumentParser("python -m tools.config_reference", description=__doc__.split(":")[0] + ".")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the README's section between the markers")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff when the README's section is stale")
    mode.add_argument("--environments", action="store_true", help="print it with a column per configured environment "
                      "(and the bootstrap stack): the value each sets, where it differs from the default")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        from infra import environments  # only here: `--write` and `--check` never need it to be valid
        print(render(environments.ENVIRONMENTS, environments.BOOTSTRAP) if args.environments else render())
        return 0
    current = readme.read_text()
    wanted = replace_section(current, render())
    if args.write:
        readme.write_text(wanted)
        print(f"{readme.name}: configuration reference {'updated' if wanted != current else 'already up to date'}")
    elif wanted != current:
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                   f"{readme.name} (now)", f"{readme.name} (generated)"))
        print(f"{readme.name}'s configuration reference is stale: run `make docs` "
              "(.venv/bin/python -m tools.config_reference --write) and commit the result")
    return int(args.check and wanted != current)


if __name__ == "__main__":
    sys.exit(main())
