"""Fixtures for the emulator's tests: one emulator per session on a free port."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from emulator import Emulator  # noqa: E402
from local import EMULATOR_BOTO  # noqa: E402

REGION = "us-east-1"


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(port=0) as running:
        yield running


@pytest.fixture
def name() -> str:
    """A resource name no other test uses: the session's emulator keeps its state
    (resetting it per test would rebuild moto's EC2 backend, about a second each)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def aws(emu: Emulator) -> Callable[[str], object]:
    """boto3 client factory for the emulator."""

    def client(service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=emu.endpoint,
            region_name=REGION,
            **EMULATOR_BOTO,
        )

    return client
