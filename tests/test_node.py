"""``xraydeblur node`` against real components: a private Orthanc (tests/orthanc_helper.py)
sends to the node and receives the derived series; pynetdicom callers play the odd
senders (a stranger, a broken image, a TLS peer). Everything listens on 127.0.0.1 on free
ports and every process and node a test starts is stopped by its fixture.

Fast methods keep it quick: ``wiener`` with a known Gaussian blur for the shared DICOM
files, the test methods of conftest (an unsharp mask, with or without a delay) for
small synthetic radiographs.
"""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from conftest import TESTS_DIR, TEST_METHOD, free_port
from orthanc_helper import DICOMWEB_PLUGIN, Orthanc, accepted, require_orthanc, text
from shared_data import dicom_files, require_data
from xraydeblur.node import Node, build_config
from xraydeblur.node.config import DEFAULTS
from xraydeblur.errors import InputError

DX = "1.2.840.10008.5.1.4.1.1.1.1"
CR = "1.2.840.10008.5.1.4.1.1.1"
SECRET_NAME = "SECRET^PATIENT"
SLOW_METHOD = "test-node-slow"
PICKY_METHOD = "test-node-picky"
PICKY_WIDTH = 40  # the picky method fails on images this wide


# -- helpers ---------------------------------------------------------------------------


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def radiograph_dataset(width: int = 64, height: int = 48, *, modality: str = "DX", sop_class: str = DX, study: str | None = None, seed: int = 0, body_part: str = "CHEST") -> Dataset:
    """A small 12-bit MONOCHROME2 radiograph with patient data that must never be logged."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = 800 + 1500 * np.exp(-((x - width / 2) ** 2 + (y - height / 2) ** 2) / (0.1 * width * height)) + rng.normal(0, 20, (height, width))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = SECRET_NAME
    ds.PatientID = "SECRET-ID-42"
    ds.Modality = modality
    ds.BodyPartExamined = body_part
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.clip(pixels, 0, 4095).astype("<u2").tobytes()
    return ds


def send(port: int, datasets: list, aet: str = "ORTHANC", called: str = "XRAYDEBLUR", tls_args=None, extra_syntaxes=()) -> list:
    """C-STORE each dataset over one association; the response Status (or None)."""
    from pynetdicom import AE

    ae = AE(ae_title=aet)
    for uid in (DX, CR):
        for syntax in (ExplicitVRLittleEndian, *extra_syntaxes):
            ae.add_requested_context(uid, syntax)  # one context each: the node picks per context
    assoc = ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls_args)
    assert assoc.is_established, f"association to the node failed (rejected={assoc.is_rejected})"
    try:
        statuses = []
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append((int(status.Status), str(status.get("ErrorComment", ""))) if "Status" in status else (None, ""))
        return statuses
    finally:
        assoc.release()


def derived_of(pacs: Orthanc, source_sop: str) -> list:
    """Orthanc instance IDs (other than the source) whose SourceImageSequence points at ``source_sop``."""
    found = pacs.client.post("/tools/find", json={"Level": "Instance", "Query": {"ImageType": "DERIVED*"}, "Expand": False}).json()
    out = []
    for instance in found:
        tags = pacs.tags(instance)
        refs = tags.get("SourceImageSequence") or []
        if text(tags.get("SOPInstanceUID")) != source_sop and any(text(r.get("ReferencedSOPInstanceUID")) == source_sop for r in refs):
            out.append(instance)
    return out


def register_node_methods(delay: float = 2.0) -> None:
    from conftest import _sharpen
    from xraydeblur.methods import Method, register

    def slow(image, kernel=None):
        time.sleep(delay)
        return _sharpen(image, kernel)

    def picky(image, kernel=None):
        if image.shape[1] == PICKY_WIDTH:
            raise RuntimeError("this test method refuses 40-pixel-wide images")
        return _sharpen(image, kernel)

    register(Method(SLOW_METHOD, "slow unsharp mask for node tests", "classical", slow, version="test-1", rank=-1002))
    register(Method(PICKY_METHOD, "unsharp mask that fails on one width", "classical", picky, version="test-1", rank=-1003))


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """One Orthanc for the module (with DICOMweb when the plugin is installed): sender and destination."""
    orthanc = Orthanc(tmp_path_factory.mktemp("pacs"), dicomweb=DICOMWEB_PLUGIN.is_file())
    try:
        yield orthanc.start()
    finally:
        orthanc.close()


@pytest.fixture
def make_node(test_methods, pacs):
    """Factory: an in-process node (free ports, status HTTP on) that forwards to ``pacs``
    unless told otherwise; known to ``pacs`` as modality "node-<port>"; stopped after the test."""
    from xraydeblur import methods

    register_node_methods()
    nodes = []

    def make(config_file=None, **cli) -> Node:
        settings = {"port": 0, "http_port": 0, "allow": ["ORTHANC"], "method": TEST_METHOD, "safeguard": "off", "retry_max_interval": 0.5}
        settings.update(cli)
        if "forward" not in settings and "stow" not in settings and not config_file:
            settings["forward"] = [f"ORTHANC@127.0.0.1:{pacs.dicom_port}"]
        node = Node(build_config(settings, config_file)).start()
        nodes.append(node)
        response = pacs.client.put(f"/modalities/node-{node.port}", json={"AET": node.config.aet, "Host": "127.0.0.1", "Port": node.port})
        assert response.status_code == 200, response.text
        return node

    yield make
    for node in nodes:
        node.stop(drain_timeout=5.0)
        pacs.client.delete(f"/modalities/node-{node.port}")
    for name in (SLOW_METHOD, PICKY_METHOD):
        methods._REGISTRY.pop(name, None)


def _status(node: Node) -> dict:
    response = httpx.get(f"http://127.0.0.1:{node.http.port}/status", timeout=10, trust_env=False)
    assert response.status_code == 200
    return response.json()


def _store_via_orthanc(pacs: Orthanc, node: Node, instance: str) -> httpx.Response:
    return pacs.client.post(f"/modalities/node-{node.port}/store", json={"Resources": [instance], "Synchronous": True})


def _upload_dataset(pacs: Orthanc, ds: Dataset) -> str:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    instance = accepted(pacs.upload(buf.getvalue()))
    assert instance is not None
    return instance


# -- command line and configuration ----------------------------------------------------


def test_node_help_documents_the_service(capsys):
    from xraydeblur.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["node", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for phrase in ("--aet", "--port", "--allow", "--forward AET@HOST:PORT", "--stow URL", "--config YAML", "--queue-size", "0xA700", "--tls-cert", "--http-port", "SIGTERM", "--sigma", "--denoise", "--safeguard", "DicomModalities"):
        assert phrase in out, phrase


def test_node_refuses_to_start_without_allow_list_or_destination(capsys):
    from xraydeblur.cli import main

    assert main(["node", "--forward", "PACS@127.0.0.1:104"]) == 2
    assert "--allow" in capsys.readouterr().err
    assert main(["node", "--allow", "PACS"]) == 2
    assert "--forward" in capsys.readouterr().err
    assert main(["node", "--allow", "PACS", "--forward", "PACS-127.0.0.1-104"]) == 2
    assert "AET@HOST:PORT" in capsys.readouterr().err


def test_yaml_config_destinations_rules_and_cli_override(tmp_path):
    path = tmp_path / "node.yaml"
    path.write_text(
        "aet: DEBLUR1\nport: 11999\nallow: [PACS]\nmethod: wiener\nsigma: 1.5\nqueue_size: 3\n"
        "destinations:\n"
        "  - {name: pacs, forward: 'PACS@10.1.2.3:104', tls: true}\n"
        "  - {name: web, stow: 'https://pacs.example.org/dicom-web/studies'}\n"
        "rules:\n"
        "  - {name: chest-xr, modality: [DX, CR], body_part: chest, send_to: [pacs, web]}\n"
        "  - {name: ward-3, station: [WARD3-DR], send_to: web}\n"
    )
    cli = dict.fromkeys(DEFAULTS)
    cli.update(port=12000, allow=["MODALITY1"])
    config = build_config(cli, str(path))
    assert (config.aet, config.port, config.method, config.blur["sigma"], config.queue_size) == ("DEBLUR1", 12000, "wiener", 1.5, 3)
    assert config.allow == ["MODALITY1", "PACS"]
    pacs_dest, web = config.destinations
    assert (pacs_dest.aet, pacs_dest.host, pacs_dest.port, pacs_dest.tls) == ("PACS", "10.1.2.3", 104, True)
    assert web.kind == "stow" and web.tls
    assert [d.name for d in config.destinations_for({"Modality": "CR", "BodyPartExamined": "CHEST"})] == ["pacs", "web"]
    assert [d.name for d in config.destinations_for({"Modality": "CT", "StationName": "ward3-dr"})] == ["web"]
    assert config.destinations_for({"Modality": "CT", "BodyPartExamined": "CHEST"}) == []

    # through the real parser: options not given leave the file's values alone
    from xraydeblur.cli import build_parser
    from xraydeblur.cli.node import config_from_args

    path.write_text("allow: [PACS]\nforward: ['PACS@127.0.0.1:104']\nkernel: motion\nlength: 9\nangle: 30\n")
    parsed = config_from_args(build_parser().parse_args(["node", "--config", str(path), "--queue-size", "2", "--stow", "http://127.0.0.1:8042/dicom-web/studies"]))
    assert (parsed.blur["kernel"], parsed.blur["length"], parsed.blur["angle"], parsed.queue_size, parsed.port) == ("motion", 9, 30, 2, 11112)
    assert [d.kind for d in parsed.destinations] == ["dicom", "stow"]

    path.write_text("allow: [PACS]\nforward_to: nowhere\n")
    with pytest.raises(InputError, match="unknown setting 'forward_to'"):
        build_config(dict.fromkeys(DEFAULTS), str(path))


# -- Orthanc -> node -> Orthanc with every shared DICOM (the real command line) ----------


def _start_cli_node(tmp_path, args: list) -> tuple[subprocess.Popen, str, object]:
    """``xraydeblur node ARGS`` in a subprocess; returns (process, status URL, log path)."""
    http_port = free_port()
    log_path = tmp_path / f"node-{http_port}.log"
    program = "import sys; from xraydeblur.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    with open(log_path, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-c", program, "node", *args, "--http-port", str(http_port)], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"node exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(url + "/healthz", timeout=2, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 90, "the node's /healthz")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, url, log_path


def _stop_process(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the node did not exit within 60 s of SIGTERM")
    return process.returncode


def test_orthanc_sends_every_shared_dicom_and_gets_a_derived_series_back(pacs, tmp_path):
    """Every shared DICOM (ACR-NEMA, JPEG 2000, JPEG-LS included) goes Orthanc -> node ->
    Orthanc; SIGTERM arrives while most of them are still being deblurred: the node
    says 503 on /healthz, finishes them all, and exits 0."""
    files = dicom_files()
    assert files, f"no shared DICOM files in {require_data() / 'dicom'}"
    port = free_port()
    args = ["--port", str(port), "--allow", "ORTHANC", "--forward", f"ORTHANC@127.0.0.1:{pacs.dicom_port}", "--method", "wiener", "--sigma", "1.0",
            "--queue-size", "8", "--safeguard", "off", "--drain-timeout", "300"]
    process, url, log_path = _start_cli_node(tmp_path, args)
    try:
        assert pacs.client.put("/modalities/xraydeblur-cli", json={"AET": "XRAYDEBLUR", "Host": "127.0.0.1", "Port": port}).status_code == 200
        sources = {}
        for path in files:
            instance = accepted(pacs.upload(path.read_bytes()))
            assert instance is not None, f"Orthanc refused {path.name}"
            sources[path.name] = (instance, pydicom.dcmread(path, force=True, stop_before_pixels=True))
        response = pacs.client.post("/modalities/xraydeblur-cli/store", json={"Resources": [i for i, _ in sources.values()], "Synchronous": True})
        assert response.status_code == 200 and response.json()["FailedInstancesCount"] == 0, response.text[:300]
        assert httpx.get(url + "/status", trust_env=False).json()["received"] == len(files)
        process.send_signal(signal.SIGTERM)  # accepted, mostly not deblurred yet
        wait_for(lambda: process.poll() is not None or httpx.get(url + "/healthz", trust_env=False).status_code == 503, 30, "/healthz saying 503 while draining")
    finally:
        code = _stop_process(process)
    assert code == 0, log_path.read_text(errors="replace")[-3000:]
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]  # every line is one JSON object
    stopped = records[-1]
    assert stopped["event"] == "stopped" and stopped["left_unfinished"] == 0
    assert (stopped["received"], stopped["forwarded"], stopped["failed"], stopped["forward_failed"]) == (len(files), len(files), 0, 0), stopped
    images = [r for r in records if r["event"] == "image"]
    assert sorted(r["sop"] for r in images) == sorted(text(s.SOPInstanceUID) for _, s in sources.values())
    assert all(r["outcome"] == "forwarded" and r["latency_s"] > 0 and r["sop_out"] and r["series_out"] for r in images)
    names = {text(s.get("PatientName")) for _, s in sources.values()} - {""}
    log_text = log_path.read_text()
    assert not [n for n in names if n in log_text], "a patient name reached the log"

    for name, (instance, source) in sources.items():
        derived = derived_of(pacs, text(source.SOPInstanceUID))
        assert len(derived) == 1, f"{name}: {len(derived)} derived instances"
        tags = pacs.tags(derived[0])
        assert pacs.parent(derived[0], "study") == pacs.parent(instance, "study"), name
        assert pacs.parent(derived[0], "series") != pacs.parent(instance, "series"), name
        assert text(tags["StudyInstanceUID"]) == text(source.StudyInstanceUID)
        assert text(tags["SOPInstanceUID"]) != text(source.SOPInstanceUID)
        assert text(tags["SeriesInstanceUID"]) != text(source.SeriesInstanceUID)
        assert text(tags["ImageType"]).upper().startswith("DERIVED\\SECONDARY"), name
        assert "method wiener" in text(tags["DerivationDescription"])
        assert text(tags["SourceImageSequence"][0]["ReferencedSOPClassUID"]) == text(source.SOPClassUID)
        assert int(tags["BitsStored"]) == int(source.BitsStored)
        assert text(tags["PhotometricInterpretation"]) == text(source.PhotometricInterpretation)
        rows, cols = int(tags["Rows"]), int(tags["Columns"])
        assert (rows, cols) == (int(source.Rows), int(source.Columns))
        raw = pacs.client.get(f"/instances/{derived[0]}/frames/0/raw")
        assert raw.status_code == 200 and len(raw.content) == rows * cols * int(tags["BitsAllocated"]) // 8, name
        preview = pacs.client.get(f"/instances/{derived[0]}/frames/0/preview", headers={"Accept": "image/png"})
        assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG"), name


def test_throughput_benchmark_runs_the_real_loop(tmp_path):
    """benchmarks/node_throughput.py's node half on two of the shared DICOMs (the full
    run, 20 images against ``xraydeblur deblur``, is committed in benchmarks/results)."""
    require_data()
    sys.path.insert(0, str(TESTS_DIR.parent / "benchmarks"))
    try:
        import node_throughput
    finally:
        sys.path.pop(0)
    result = node_throughput.run_node(node_throughput.images(2), ["--method", "wiener", "--sigma", "1.0"], tmp_path)
    assert (result["forwarded"], result["failed"], result["orthanc_instances_after"]) == (2, 0, 4)
    assert result["images_per_minute"] > 0 and result["latency_s"]["max"] >= result["latency_s"]["mean"] > 0


# -- security --------------------------------------------------------------------------


def test_caller_outside_the_allow_list_is_rejected_at_association(make_node, caplog):
    from pynetdicom import AE

    node = make_node()
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(DX)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="XRAYDEBLUR")
    assert assoc.is_rejected and not assoc.is_established
    assert send(node.port, [radiograph_dataset()], aet="ORTHANC")[0][0] == 0x0000  # the allowed one may
    assert any('"calling_aet":"STRANGER"' in r.getMessage() and "association_rejected" in r.getMessage() for r in caplog.records)
    wait_for(lambda: node.stats.snapshot()["forwarded"] == 1, 30, "the allowed image forwarded")


def _self_signed(tmp_path) -> tuple[str, str]:
    cert, key = tmp_path / "node.pem", tmp_path / "node.key"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, timeout=60,
    )
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {result.stderr.decode(errors='replace')[:200]}")
    return str(cert), str(key)


def test_tls_both_directions(make_node, tmp_path):
    """TLS in (mutual: the caller shows a certificate the node's CA file holds) and TLS
    out to a TLS storage SCP; a plain-TCP caller gets no association."""
    from pynetdicom import AE, evt

    from xraydeblur.node.forward import client_ssl_context
    from xraydeblur.node.scp import server_ssl_context

    cert, key = _self_signed(tmp_path)
    received = []

    def on_store(event):
        received.append(event.dataset.SOPInstanceUID)
        return 0x0000

    destination = AE(ae_title="TLSPACS")
    destination.add_supported_context(DX, ExplicitVRLittleEndian)
    dest_port = free_port()
    server = destination.start_server(("127.0.0.1", dest_port), block=False, ssl_context=server_ssl_context(cert, key, cert), evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        node = make_node(tls_cert=cert, tls_key=key, tls_ca=cert, forward_tls=True, forward=[f"TLSPACS@127.0.0.1:{dest_port}"])
        statuses = send(node.port, [radiograph_dataset()], tls_args=(client_ssl_context(cert, cert, key), "127.0.0.1"))
        assert statuses == [(0x0000, "")]
        wait_for(lambda: node.stats.snapshot()["forwarded"] == 1, 30, "the derived image delivered over TLS")
        assert len(received) == 1
        ae = AE(ae_title="ORTHANC")
        ae.add_requested_context(DX)
        ae.acse_timeout = ae.network_timeout = 5
        assert not ae.associate("127.0.0.1", node.port, ae_title="XRAYDEBLUR").is_established
    finally:
        server.shutdown()


# -- nothing lost ----------------------------------------------------------------------


def test_full_queue_answers_out_of_resources_and_the_retry_arrives(make_node, pacs):
    node = make_node(method=SLOW_METHOD, queue_size=1)
    study = generate_uid()
    first, second = radiograph_dataset(study=study, seed=1), radiograph_dataset(study=study, seed=2)
    first_id, second_id = _upload_dataset(pacs, first), _upload_dataset(pacs, second)
    assert _store_via_orthanc(pacs, node, first_id).status_code == 200
    refused = _store_via_orthanc(pacs, node, second_id)  # the queue holds the first (2 s deblur)
    assert refused.status_code != 200 or refused.json().get("FailedInstancesCount"), refused.text[:300]
    assert node.stats.snapshot()["busy"] == 1
    wait_for(lambda: node.stats.snapshot()["forwarded"] == 1, 30, "the first image forwarded")
    assert _store_via_orthanc(pacs, node, second_id).status_code == 200  # the sender retries
    wait_for(lambda: node.stats.snapshot()["forwarded"] == 2, 30, "the retried image forwarded")
    for ds in (first, second):
        assert len(derived_of(pacs, ds.SOPInstanceUID)) == 1
    status = _status(node)
    assert (status["busy"], status["failed"], status["forward_failed"]) == (1, 0, 0)


def test_broken_image_gets_a_failure_status_and_nothing_else_stops(make_node, pacs, caplog):
    node = make_node(method=PICKY_METHOD)
    truncated = radiograph_dataset(seed=3)
    truncated.PixelData = truncated.PixelData[:100]
    garbage = radiograph_dataset(seed=4)
    garbage.file_meta.TransferSyntaxUID = JPEG2000Lossless
    garbage.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(200)])
    garbage["PixelData"].VR = "OB"
    undeblurrable = radiograph_dataset(width=PICKY_WIDTH, seed=5)  # decodes, but the method fails
    good = radiograph_dataset(seed=6)
    statuses = send(node.port, [truncated, garbage, undeblurrable, good], extra_syntaxes=[JPEG2000Lossless])
    assert [s for s, _ in statuses] == [0xC000, 0xC000, 0x0000, 0x0000], statuses
    assert all(comment for _, comment in statuses[:2])
    wait_for(lambda: node.stats.snapshot()["forwarded"] == 1 and node.stats.snapshot()["failed"] == 1, 30, "one forwarded, one failed")
    assert len(derived_of(pacs, good.SOPInstanceUID)) == 1
    status = _status(node)
    assert (status["received"], status["undecodable"], status["failed"], status["forwarded"]) == (4, 2, 1, 1)
    failed = [json.loads(r.getMessage()) for r in caplog.records if '"outcome":"failed"' in r.getMessage()]
    assert len(failed) == 1 and failed[0]["sop"] == undeblurrable.SOPInstanceUID and "refuses 40-pixel-wide" in failed[0]["reason"]
    assert all(SECRET_NAME not in r.getMessage() and "SECRET-ID" not in r.getMessage() for r in caplog.records)


def test_destination_killed_mid_run_loses_nothing_once_it_is_back(make_node, tmp_path):
    destination = Orthanc(tmp_path / "destination", name="destination", aet="DEST")
    try:
        destination.start()
        node = make_node(forward=[f"DEST@127.0.0.1:{destination.dicom_port}"], queue_size=8)
        batch1 = [radiograph_dataset(seed=10 + i) for i in range(2)]
        assert [s for s, _ in send(node.port, batch1)] == [0, 0]
        wait_for(lambda: len(destination.instances()) == 2, 30, "the first images at the destination")
        destination.stop(kill=True)
        batch2 = [radiograph_dataset(seed=20 + i) for i in range(3)]
        assert [s for s, _ in send(node.port, batch2)] == [0, 0, 0]
        wait_for(lambda: node.stats.snapshot()["retries"] >= 2, 30, "the node retrying")
        assert _status(node)["destinations"][f"DEST@127.0.0.1:{destination.dicom_port}"]["retrying"]
        destination.start()
        wait_for(lambda: node.stats.snapshot()["forwarded"] == 5, 60, "every image forwarded after the restart")
        stored = {text(destination.tags(i)["SourceImageSequence"][0]["ReferencedSOPInstanceUID"]) for i in destination.instances()}
        assert stored == {ds.SOPInstanceUID for ds in batch1 + batch2}
        assert node.stats.snapshot()["forward_failed"] == 0
    finally:
        destination.close()


def test_refused_or_unreachable_destination_is_reported_not_dropped(make_node, caplog):
    """A destination that refuses the image (0xA900) is reported at once; one that stays
    down is retried for --retry-for seconds, then reported: both as forward_failed."""
    from pynetdicom import AE, evt

    refusing = AE(ae_title="REFUSER")
    refusing.add_supported_context(DX, ExplicitVRLittleEndian)
    refusing_port = free_port()
    server = refusing.start_server(("127.0.0.1", refusing_port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda event: 0xA900)])
    try:
        refused = make_node(forward=[f"REFUSER@127.0.0.1:{refusing_port}"])
        down = make_node(forward=[f"NOBODY@127.0.0.1:{free_port()}"], retry_for=1.5, retry_max_interval=0.5)
        first, second = radiograph_dataset(seed=50), radiograph_dataset(seed=51)
        assert send(refused.port, [first]) == [(0x0000, "")]
        assert send(down.port, [second]) == [(0x0000, "")]
        wait_for(lambda: refused.stats.snapshot()["forward_failed"] == 1 and down.stats.snapshot()["forward_failed"] == 1, 30, "both reported")
    finally:
        server.shutdown()
    assert refused.stats.snapshot()["retries"] == 0 and down.stats.snapshot()["retries"] >= 1
    assert refused.in_memory() == down.in_memory() == 0  # their slots are free again
    reports = {json.loads(r.getMessage())["sop"]: json.loads(r.getMessage())["reason"] for r in caplog.records if '"outcome":"forward_failed"' in r.getMessage()}
    assert "0xA900" in reports[first.SOPInstanceUID]
    assert "gave up after" in reports[second.SOPInstanceUID]


# -- DICOMweb, rules, status page ------------------------------------------------------


def test_stow_rs_destination_and_rules_from_yaml(make_node, pacs, tmp_path, caplog):
    require_orthanc(dicomweb=True)
    config = tmp_path / "node.yaml"
    config.write_text(
        f"allow: [ORTHANC]\ndestinations:\n  - {{name: web, stow: '{pacs.url}/dicom-web/studies'}}\n"
        "rules:\n  - {name: dx-only, modality: DX, send_to: [web]}\n"
    )
    caplog.set_level(logging.INFO, logger="xraydeblur.node")
    node = make_node(config_file=str(config), safeguard="report")
    dx, cr = radiograph_dataset(seed=40), radiograph_dataset(seed=41, modality="CR", sop_class=CR)
    ours = radiograph_dataset(seed=42)
    ours.DerivationDescription = "Deblurred by xraydeblur 0.1.0; method wiener"  # a result coming round again
    assert [s for s, _ in send(node.port, [dx, cr, ours])] == [0, 0, 0]
    wait_for(lambda: node.stats.snapshot()["forwarded"] == 1, 30, "the DX image sent by STOW-RS")
    assert len(derived_of(pacs, dx.SOPInstanceUID)) == 1
    line = next(json.loads(r.getMessage()) for r in caplog.records if '"outcome":"forwarded"' in r.getMessage())
    assert line["sop"] == dx.SOPInstanceUID and line["safeguard"] in ("passed", "failed", "not run")
    assert derived_of(pacs, cr.SOPInstanceUID) == [] and derived_of(pacs, ours.SOPInstanceUID) == []
    status = _status(node)
    assert (status["skipped"] - 1, status["settings"]["rules"], status["settings"]["destinations"][0]["kind"]) == (1, ["dx-only"], "stow")
    health = httpx.get(f"http://127.0.0.1:{node.http.port}/healthz", trust_env=False)
    page = httpx.get(f"http://127.0.0.1:{node.http.port}/", trust_env=False)
    assert health.status_code == 200 and "mean latency" in page.text
