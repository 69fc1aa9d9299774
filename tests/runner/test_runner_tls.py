"""An HTTPS listener on the local system: the runner's HAProxy ends TLS with the certificate the listener names
in the emulator's ACM (a self-signed one, local/certificate.py, standing in for ACM's), as the ALB ends it with
ACM's; the tasks get plain HTTP. Anything else given as that certificate is refused before anything starts."""

from __future__ import annotations

import socket
import ssl
import uuid

import httpx
import pytest

from local import certificate
from tests.runner import emulated_service
from tests.runner.local_system import Up, nothing_running, started
from tests.webdriver import Chromium

DOMAIN = "notes.example.test"
NETWORK = "127.0.106"
REFUSED = "127.0.107"  # the runs refused before anything starts: nothing of the served one may be mistaken for theirs


def _service(emulator, app_image, *, cert: certificate.LocalCertificate | None):
    # A name of its own per service: the emulator keeps every earlier test's resources.
    return emulated_service.create(emulator.endpoint, name=f"notes-tls-{uuid.uuid4().hex[:6]}",
                                   repository=app_image.repository, tag=app_image.tag, desired_count=1,
                                   migrate_on_start=True, certificate=cert)


@pytest.fixture(scope="module")
def local_certificate(tmp_path_factory) -> certificate.LocalCertificate:
    return certificate.make(tmp_path_factory.mktemp("certificate"), DOMAIN)


@pytest.fixture(scope="module")
def https(emulator, app_image, podman_storage, local_certificate, tmp_path_factory):
    service = _service(emulator, app_image, cert=local_certificate)
    deployment = Up(service, app_image.registry, tmp_path_factory.mktemp("https"), NETWORK, podman_storage)
    started(deployment.up("--certificate", str(local_certificate.bundle)))
    yield deployment
    deployment.down()


@pytest.fixture
def stopped(emulator, app_image, podman_storage, tmp_path):
    """A `runner up` whose service is yet to be made (`make(cert)`); down at teardown."""
    made = []

    def make(cert: certificate.LocalCertificate | None) -> Up:
        made.append(Up(_service(emulator, app_image, cert=cert), app_image.registry, tmp_path / "work", REFUSED,
                       podman_storage))
        return made[0]

    yield make
    for deployment in made:
        deployment.down()


def test_the_url_is_https_and_trusted_only_with_the_local_certificate(https, local_certificate):
    assert https.url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(local_certificate.certificate))
    with httpx.Client(base_url=https.url, trust_env=False, timeout=10, verify=trusting) as client:
        assert client.post("/notes", json={"title": "over TLS", "body": ""}).status_code == 201
        assert client.get("/ready").status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https.url, trust_env=False, timeout=10, verify=ssl.create_default_context())


def test_the_certificate_served_names_the_domain_and_is_the_one_in_acm(https, local_certificate):
    # WHEN a client speaks TLS to the environment's domain (SNI), as a browser does once DNS points at the ALB
    host, port = https.url.removeprefix("https://").rstrip("/").split(":")
    trusting = ssl.create_default_context(cafile=str(local_certificate.certificate))
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            trusting.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        served = tls.getpeercert(binary_form=True)
        version = tls.version()
    # THEN the hostname check passed, and what HAProxy served is what the listener's ACM ARN holds
    acm = https.service.client("acm")
    arn = next(listener["Certificates"][0]["CertificateArn"]
               for balancer in https.service.client("elbv2").describe_load_balancers()["LoadBalancers"]
               for listener in https.service.client("elbv2").describe_listeners(
                   LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
               if listener["Protocol"] == "HTTPS" and any(
                   a.get("TargetGroupArn") == https.service.target_group_arn for a in listener["DefaultActions"]))
    assert served == ssl.PEM_cert_to_DER_cert(acm.get_certificate(CertificateArn=arn)["Certificate"])
    assert version in ("TLSv1.2", "TLSv1.3")


def test_the_page_works_in_a_real_browser_over_https(https, local_certificate):
    # GIVEN headless chromium told to accept this one key (nothing else is trusted beyond the system's)
    with Chromium(trust=local_certificate.certificate) as browser:
        browser.open(https.url)
        assert browser.title() == "Notes"
        browser.type("#title", "Added over HTTPS")
        browser.type("#body", "through HAProxy's TLS")
        browser.click("form button")
        assert "Added over HTTPS" in browser.wait_for_text("article h2", "Added over HTTPS")


def test_an_https_listener_without_certificate_fails_naming_its_arn_and_starts_nothing(stopped, local_certificate):
    deployment = stopped(local_certificate)
    result = deployment.up()
    assert result.returncode == 1
    assert "the service's listener serves HTTPS with the ACM certificate arn:aws:acm:" in result.stderr
    assert "pass --certificate FILE" in result.stderr
    nothing_running(deployment, None)


def test_a_certificate_other_than_the_listeners_is_refused_and_starts_nothing(stopped, local_certificate, tmp_path):
    other = certificate.make(tmp_path / "other", DOMAIN)
    deployment = stopped(local_certificate)
    result = deployment.up("--certificate", str(other.bundle))
    assert result.returncode == 1
    assert f"--certificate {other.bundle} is not the certificate the listener names" in result.stderr
    nothing_running(deployment, None)


def test_a_certificate_without_its_key_is_refused_and_starts_nothing(stopped, local_certificate):
    deployment = stopped(local_certificate)
    result = deployment.up("--certificate", str(local_certificate.certificate))
    assert result.returncode == 1
    assert "needs a PEM certificate followed by its private key (found 1 certificate(s) and no key)" in result.stderr
    nothing_running(deployment, None)


def test_a_certificate_for_a_plain_http_listener_is_refused(stopped, local_certificate):
    deployment = stopped(None)
    result = deployment.up("--certificate", str(local_certificate.bundle))
    assert result.returncode == 1
    assert "the service's listener serves plain HTTP" in result.stderr
    nothing_running(deployment, None)
