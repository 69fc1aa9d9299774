"""The configured environments' names, in their order, as JSON: the workflows' matrices read them from here,
so that an environment is one entry in infra/environments.py and nowhere else.

    .venv/bin/python -m tools.environments        prints e.g. ["dev", "prod"]; exit 2 on a broken configuration
"""
from __future__ import annotations

import json
import sys


def names() -> list[str]:
    """The keys of ENVIRONMENTS, in order: the release deploys them one after another in this order."""
    from infra.environments import ENVIRONMENTS

    return list(ENVIRONMENTS)


def main() -> int:
    from infra.config import ConfigError

    try:
        print(json.dumps(names()))
    except ConfigError as exc:
        print(f"error: infra/environments.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
