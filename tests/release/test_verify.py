"""release/verify.py against a real TLS server: the check connects to the load balancer's address and speaks TLS
to the environment's domain (SNI, certificate name, Host header), as a browser does once DNS points there; without
the domain it fails TLS, as a check of `https://<ALB DNS name>` fails against a certificate for the domain."""
from __future__ import annotations

import http.server
import ssl
import subprocess
import threading

import pytest

from release.verify import Endpoint, VerifyError, check
from tests.http_stand_in import answer_json

DOMAIN = "notes.example.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                           str(cert), "-days", "1", "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}"],
                          capture_output=True, text=True)
    assert made.returncode == 0, f"openssl could not make a certificate: {made.stderr}"
    return key, cert


@pytest.fixture
def load_balancer(certificate):
    """An HTTPS server on 127.0.0.1 with a certificate for DOMAIN only; records SNI and Host of each request."""
    key, cert = certificate
    seen: dict[str, list] = {"sni": [], "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            seen["requests"].append((self.command, self.path, self.headers["Host"]))
            answer_json(self, 200, {"status": "ok"})

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen, str(cert)
    server.shutdown()


def test_the_check_speaks_tls_to_the_domain_through_the_load_balancer(load_balancer):
    url, seen, cafile = load_balancer
    check(Endpoint(url, server_name=DOMAIN, cafile=cafile), ready_timeout=5, poll=0.1)
    assert seen["sni"] == [DOMAIN, DOMAIN]
    assert seen["requests"] == [("GET", "/ready", DOMAIN), ("POST", "/ready/probe", DOMAIN)]


def test_without_the_domain_the_certificate_does_not_match_and_the_check_fails_at_once(load_balancer):
    url, seen, cafile = load_balancer
    with pytest.raises(VerifyError, match=r"GET .*/ready failed: SSLCertVerificationError.*(mismatch|doesn't match)"):
        check(Endpoint(url, cafile=cafile), ready_timeout=60, poll=0.1)
    assert seen["requests"] == []


def test_an_untrusted_certificate_fails_the_check(load_balancer):
    url, _, _ = load_balancer
    with pytest.raises(VerifyError, match="certificate verify failed"):
        check(Endpoint(url, server_name=DOMAIN), ready_timeout=60, poll=0.1)


def test_a_load_balancer_that_does_not_answer_fails_after_the_wait_naming_the_attempts():
    with pytest.raises(VerifyError, match=r"GET http://127.0.0.1:9/ready failed: ConnectionRefusedError.*\(\d+ attempts"):
        check(Endpoint("http://127.0.0.1:9"), ready_timeout=0.3, poll=0.1)


def test_with_local_the_check_goes_through_the_local_balancer_with_tls_to_the_domain_when_it_serves_https(tmp_path):
    """`python -m release ... --local` of an environment that serves HTTPS (make demo ENV=prod): through HAProxy's
    port, TLS to the environment's domain, trusting only the local certificate the runner serves."""
    import json

    from release.aws import AwsTarget
    from release.local import LocalTarget
    from release.outputs import StackOutputs
    from runner.layout import Layout

    layout = Layout(workdir=tmp_path)
    layout.folder.mkdir(parents=True)

    def endpoint(settings: dict) -> Endpoint:
        layout.settings_file.write_text(json.dumps(settings))
        control = AwsTarget(environment="prod", outputs=StackOutputs(), client=None, domain="notes.example.com")
        return LocalTarget(control=control, workdir=tmp_path).endpoint()

    assert endpoint({"port": 8443, "certificate": "/x/haproxy.pem"}) == Endpoint(
        "https://127.0.0.1:8443", server_name="notes.example.com", cafile="/x/haproxy.pem")
    assert endpoint({"port": 8080, "certificate": None}) == Endpoint("http://127.0.0.1:8080")
