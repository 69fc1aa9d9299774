"""Shared by every test folder: load the AWS provider bindings the fast way (see infra/fast_synth.py).

This runs before any test module imports cdktf_cdktf_provider_aws, so the test session pays for the
~40 submodules the constructs use instead of all 2,135. Two plugins hold the fixtures that several folders
share: tests/stacks.py (every stack synthesized once per session: infra, security, tools and demo tests) and
tests/containers.py (the registry, the app image, podman, an emulator, a browser: image, runner, release).
"""
from infra import fast_synth

pytest_plugins = ["tests.stacks", "tests.containers"]

fast_synth.skip_provider_index()
