"""The state bucket is set once: every stack's backend uses the bootstrap bucket and its region."""
import json

from infra import environments
from infra.config import EnvironmentConfig, LoadBalancerConfig, NetworkConfig


def test_an_environment_in_another_region_keeps_its_state_in_the_bootstrap_buckets_region(tmp_path):
    from cdktf import App
    from infra.stacks import build

    # GIVEN an environment in another region while the state bucket lives in the bootstrap region
    bootstrap = environments.BOOTSTRAP
    elsewhere = "eu-west-1" if bootstrap.region != "eu-west-1" else "us-west-2"
    abroad = EnvironmentConfig(name="abroad", region=elsewhere, network=NetworkConfig(vpc_cidr="10.99.0.0/16"),
                               load_balancer=LoadBalancerConfig(http_only=True))
    assert abroad.region != bootstrap.region
    # WHEN it is synthesized
    app = App(outdir=str(tmp_path))
    build(app, bootstrap, [abroad])
    app.synth()
    stack = json.loads((tmp_path / "stacks" / "abroad" / "cdk.tf.json").read_text())
    # THEN its resources are in its region, its state in the bucket's
    assert stack["provider"]["aws"][0]["region"] == elsewhere
    backend = stack["terraform"]["backend"]["s3"]
    assert (backend["bucket"], backend["region"], backend["key"]) == \
        (bootstrap.state_bucket, bootstrap.region, "abroad/terraform.tfstate")


def test_every_configured_environment_keeps_its_state_in_the_bootstrap_bucket(app_stack):
    backend = app_stack.json["terraform"]["backend"]["s3"]
    assert (backend["bucket"], backend["region"]) == \
        (environments.BOOTSTRAP.state_bucket, environments.BOOTSTRAP.region)
