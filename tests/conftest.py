"""Shared by every test folder: load the AWS provider bindings the fast way (see infra/fast_synth.py).

This runs before any test module imports cdktf_cdktf_provider_aws, so the test session pays for the
~40 submodules the constructs use instead of all 2,135.
"""
from infra import fast_synth

fast_synth.skip_provider_index()
