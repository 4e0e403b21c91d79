"""Optional status HTTP port: ``/healthz`` (200 "ok" while accepting, 503 while
stopping), ``/status`` (JSON: queue length, processed, failed, mean latency...) and
``/`` (the same as a small HTML page). Read-only; no image or patient data."""

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    node = None  # set per server class

    def log_message(self, *args) -> None:  # the node logs images, not HTTP hits
        pass

    def _send(self, code: int, body: bytes, media_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        status = self.node.status()
        if path == "/healthz":
            ok = status["status"] == "ok"
            self._send(200 if ok else 503, b"ok\n" if ok else b"stopping\n", "text/plain; charset=utf-8")
        elif path == "/status":
            self._send(200, json.dumps(status, indent=1).encode(), "application/json")
        elif path == "/":
            self._send(200, _page(status).encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET


def _page(status: dict) -> str:
    rows = [
        ("status", status["status"]),
        ("queue", f"{status['queue']['length']} / {status['queue']['capacity']} in memory ({status['queue']['waiting']} waiting, {status['queue']['deblurring']} deblurring)"),
        ("received", status["received"]),
        ("processed", status["processed"]),
        ("forwarded", status["forwarded"]),
        ("failed (deblur)", status["failed"]),
        ("failed (forward)", status["forward_failed"]),
        ("refused: busy / undecodable", f"{status['busy']} / {status['undecodable']}"),
        ("mean latency", "-" if status["mean_latency_s"] is None else f"{status['mean_latency_s']:.2f} s"),
        ("mean deblur time", "-" if status["mean_deblur_s"] is None else f"{status['mean_deblur_s']:.2f} s"),
    ]
    rows += [(f"destination {name}", f"{d['pending']} pending{' (retrying)' if d['retrying'] else ''}") for name, d in status["destinations"].items()]
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
        f"<title>xraydeblur node</title><h1>xraydeblur node {html.escape(status['version'])}</h1>"
        f"<table>{body}</table><p><a href=/status>JSON</a></p>"
    )


class StatusServer:
    def __init__(self, node, host: str, port: int):
        handler = type("Handler", (_Handler,), {"node": node})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="status-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> "StatusServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
