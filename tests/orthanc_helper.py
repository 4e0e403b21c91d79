"""A private Orthanc for tests: own config and storage under a temp folder, free loopback
ports, no plugins (or only the DICOMweb one), stopped by the fixture that started it.

Orthanc comes from the Debian ``orthanc`` package (``/usr/sbin/Orthanc``; DICOMweb from
``orthanc-dicomweb``), installed by ``make test`` via ``scripts/install_system_deps.sh``;
without it tests fail in CI (``CI=true`` or ``XRAYDEBLUR_REQUIRE_DATA=1``) and skip elsewhere.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port

START_TIMEOUT = 60.0
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_binary() -> str | None:
    found = shutil.which("Orthanc")
    if found:
        return found
    # The Debian package installs to /usr/sbin, which is often off a non-root PATH.
    fallback = Path("/usr/sbin/Orthanc")
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else None


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true" or os.environ.get("XRAYDEBLUR_REQUIRE_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def require_orthanc(dicomweb: bool = False) -> str:
    """The Orthanc binary; skips (fails in CI) when it (or the DICOMweb plugin) is missing."""
    binary = orthanc_binary()
    if binary is None:
        _missing("Orthanc (Debian package orthanc) is not installed; `make test` installs it via scripts/install_system_deps.sh")
    if dicomweb and not DICOMWEB_PLUGIN.is_file():
        _missing(f"the Orthanc DICOMweb plugin ({DICOMWEB_PLUGIN}, Debian package orthanc-dicomweb) is not installed")
    return binary


class Orthanc:
    """One Orthanc process; :meth:`stop` and :meth:`start` again keep ports and storage."""

    def __init__(self, root: Path, name: str = "xraydeblur-test", aet: str = "ORTHANC", modalities: dict | None = None, dicomweb: bool = False):
        self.binary = require_orthanc(dicomweb)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.name, self.aet = name, aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        while self.dicom_port == self.http_port:
            self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        config = {
            "Name": name,
            "DicomAet": aet,
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "index"),
            "StorageCompression": False,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "DicomServerEnabled": True,
            "DicomPort": self.dicom_port,
            "RemoteAccessAllowed": False,  # loopback only
            "AuthenticationEnabled": False,
            "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
            "HttpThreadsCount": 4,
            "ConcurrentJobs": 1,
            "SaveJobs": False,
            "HttpCompressionEnabled": False,
            "OverwriteInstances": False,
            "DicomModalities": modalities or {},
            "DicomScuTimeout": 30,
        }
        if dicomweb:
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/", "EnableWado": True}
        self.config_path = self.root / "orthanc.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.log_path = self.root / "orthanc.log"
        self.process: subprocess.Popen | None = None
        # no keep-alive: a connection Orthanc closed while idle must not fail the next call
        self.client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(60.0, connect=5.0), trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def start(self) -> "Orthanc":
        with open(self.log_path, "ab") as sink:
            self.process = subprocess.Popen([self.binary, "--no-jobs", str(self.config_path)], cwd=self.root, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"Orthanc exited with {self.process.returncode} on start:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/system", timeout=2.0, trust_env=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Orthanc did not answer on {self.url}/system within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def close(self) -> None:
        self.stop()
        self.client.close()

    # -- REST helpers ------------------------------------------------------------------

    def upload(self, data: bytes) -> httpx.Response:
        return self.client.post("/instances", content=data, headers={"Content-Type": "application/dicom"})

    def tags(self, instance: str) -> dict:
        response = self.client.get(f"/instances/{instance}/simplified-tags")
        assert response.status_code == 200, response.text
        return response.json()

    def parent(self, instance: str, level: str) -> str:
        response = self.client.get(f"/instances/{instance}/{level}")
        assert response.status_code == 200, response.text
        return response.json()["ID"]

    def stored_bytes(self, instance: str) -> bytes:
        response = self.client.get(f"/instances/{instance}/file")
        assert response.status_code == 200, response.text
        return response.content

    def instances(self) -> list:
        return self.client.get("/instances").json()


def accepted(response: httpx.Response) -> str | None:
    """The Orthanc instance ID when an upload was stored, else None."""
    if response.status_code != 200:
        return None
    body = response.json()
    return body["ID"] if body.get("Status") in ("Success", "AlreadyStored") else None


def text(value) -> str:
    return "" if value is None else str(value).strip()
