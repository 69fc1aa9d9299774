"""Fast synth: load only the AWS provider submodules that the constructs use, and exit as soon as done.

Stock `import cdktf_cdktf_provider_aws.vpc` first runs the package's `__init__.py`, which imports all
~2,100 resource submodules (~6 s, ~490 MB); the constructs use about 40. `skip_provider_index()`
registers the package without running that file, so each `import cdktf_cdktf_provider_aws.<name>`
loads just that submodule and the jsii assembly it needs. The synthesized output is byte-identical
(tests/infra/test_fast_synth.py proves it against the stock path in a subprocess).

`exit_now()` ends the process once the output is on disk, skipping the ~3 s interpreter teardown.

Set `STOCK_SYNTH=1` to use the stock paths (for comparison, or if something here ever misbehaves).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types
import warnings

PACKAGE = "cdktf_cdktf_provider_aws"
# What the shortcut relies on: the package's jsii loader and one resource submodule, as subpackages.
_EXPECTED = ("_jsii", "vpc")


def enabled() -> bool:
    return os.environ.get("STOCK_SYNTH", "") in ("", "0")


def skip_provider_index() -> bool:
    """Register the provider package without its all-importing index. True if the shortcut is in place.

    Falls back to the stock import (with a warning) when the package is missing, already imported,
    or laid out differently from what this relies on, e.g. after a provider upgrade.
    """
    if not enabled():
        return False
    if PACKAGE in sys.modules:
        return isinstance(sys.modules[PACKAGE], _LazyPackage)
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not all(
            any(os.path.isfile(os.path.join(loc, name, "__init__.py")) for loc in locations) for name in _EXPECTED):
        warnings.warn(f"{PACKAGE}: unexpected package layout; using the stock (slow) import", stacklevel=2)
        return False
    package = _LazyPackage(PACKAGE)
    package.__path__ = locations
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    package.__spec__ = importlib.machinery.ModuleSpec(PACKAGE, spec.loader, origin=spec.origin, is_package=True)
    package.__spec__.submodule_search_locations = locations
    sys.modules[PACKAGE] = package
    return True


class _LazyPackage(types.ModuleType):
    """The provider package without its index: submodules are imported on first attribute access."""

    def __getattr__(self, name: str) -> types.ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{PACKAGE}.{name}")
        except ModuleNotFoundError as exc:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from exc


def exit_now(code: int) -> None:
    """Leave at once, after flushing our own streams. Call only when every output file is closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    if enabled():
        os._exit(code)
    sys.exit(code)
