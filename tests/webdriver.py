"""A real headless browser for tests: Debian's chromium driven by chromedriver over the W3C WebDriver
protocol (plain JSON over HTTP, spoken here with httpx; Selenium would add a dependency for five calls).

    with Chromium() as browser:
        browser.open("http://127.0.0.1:8000/")
        browser.type("#title", "hello"); browser.click("form button")
        browser.texts("article h2")

Loopback only: chromedriver listens on 127.0.0.1 and the browser uses no proxy.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from local.certificate import spki_sha256

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class BrowserError(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chromium:
    def __init__(self, timeout: float = 30.0, trust: Path | None = None) -> None:
        """trust: a certificate (PEM) whose key alone the browser accepts without a trusted issuer (a local
        self-signed one); every other certificate is checked as usual."""
        self.timeout = timeout
        for tool, package in (("chromedriver", "chromium-driver"), ("chromium", "chromium")):
            if shutil.which(tool) is None:
                raise BrowserError(f"{tool} is not installed: apt-get install {package} (tools/setup.sh containers)")
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        port = _free_port()
        self._driver = subprocess.Popen(["chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=timeout)
        self.session = ""
        try:
            self._wait_for_driver()
            self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": shutil.which("chromium"), "args": [
                    # --no-sandbox: chromium's sandbox refuses to run as root (CI containers).
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-proxy-server", "--no-first-run", f"--user-data-dir={self._profile.name}",
                    *([f"--ignore-certificate-errors-spki-list={spki_sha256(trust)}"] if trust else [])]},
            }}})["sessionId"]
        except BaseException:
            self.close()
            raise

    def _wait_for_driver(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._driver.poll() is not None:
                raise BrowserError(f"chromedriver exited with {self._driver.returncode} at start")
            try:
                if self._http.get("/status").json()["value"]["ready"]:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise BrowserError(f"chromedriver did not answer within {self.timeout:.0f} s")

    def _call(self, method: str, path: str, body: dict | None = None):
        response = self._http.request(method, path, json=body if method == "POST" else None)
        value = response.json().get("value")
        if response.status_code != 200:
            raise BrowserError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:500]}")
        return value

    def _in_session(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._in_session("POST", "/url", {"url": url})

    def title(self) -> str:
        return self._in_session("GET", "/title")

    def _elements(self, css: str) -> list[str]:
        found = self._in_session("POST", "/elements", {"using": "css selector", "value": css})
        return [element[ELEMENT] for element in found]

    def _element(self, css: str) -> str:
        found = self._elements(css)
        if not found:
            raise BrowserError(f"no element matches {css!r} on {self._in_session('GET', '/url')}")
        return found[0]

    def texts(self, css: str) -> list[str]:
        return [self._in_session("GET", f"/element/{element}/text") for element in self._elements(css)]

    def type(self, css: str, text: str) -> None:
        self._in_session("POST", f"/element/{self._element(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._in_session("POST", f"/element/{self._element(css)}/click", {})

    def wait_for_text(self, css: str, text: str) -> list[str]:
        """The texts of the elements matching css once one of them is `text` (a form post may still be loading)."""
        deadline = time.monotonic() + self.timeout
        while text not in (texts := self.texts(css)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return texts

    def close(self) -> None:
        try:
            if self.session:
                self._in_session("DELETE", "")
        except (httpx.HTTPError, BrowserError):
            pass
        finally:
            self._http.close()
            self._driver.terminate()
            try:
                self._driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()
            self._profile.cleanup()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
