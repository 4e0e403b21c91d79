"""``xraydeblur serve``: the REST API and web page (uvicorn).

Open http://HOST:PORT/ for the web page, /docs for the API summary. Uploads are
processed in memory only and never logged; the request log shows method, path,
status and duration. The API has no authentication: keep the default loopback host
unless a reverse proxy in front of it controls access. Research use only - not for
diagnosis.
"""

import os
import sys

from .common import HelpFormatter

EXAMPLES = """examples:
  xraydeblur serve
  xraydeblur serve --port 8080 --max-concurrent 1
  xraydeblur serve --host 0.0.0.0 --workers 2 --max-upload-mb 100
  curl --data-binary @chest.dcm -H 'Accept: application/dicom' \\
       'http://127.0.0.1:8000/api/v1/deblur?method=wiener' -o out.dcm

environment:
  XRAYDEBLUR_MAX_UPLOAD_MB (200), XRAYDEBLUR_UPLOAD_BUDGET_MB (bodies held at
  once: twice the upload cap, at least 400), XRAYDEBLUR_MAX_CONCURRENT (2),
  XRAYDEBLUR_QUEUE_TIMEOUT (30 s), XRAYDEBLUR_MAX_PIXELS (25000000);
  the options below override them.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the REST API and web page", description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads its own models)")
    p.add_argument("--max-upload-mb", type=float, help="largest request body in MB (default: env or 200)")
    p.add_argument("--max-concurrent", type=int, help="inferences at once per worker (default: env or 2)")
    p.add_argument("--queue-timeout", type=float, help="seconds a request waits for a slot before 503 (default: env or 30)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="server log level")
    p.set_defaults(func=run)


def log_config(level: str) -> dict:
    """uvicorn logging: errors and our one-line request log; no access log (it would
    include query strings), never bodies or file names."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "xraydeblur": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def run(args) -> int:
    from ..errors import InputError

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    for option, value in (("--max-upload-mb", args.max_upload_mb), ("--max-concurrent", args.max_concurrent), ("--queue-timeout", args.queue_timeout)):
        if value is not None and not value > 0:
            raise InputError(f"{option} must be positive")
    # Settings travel by environment so that every worker process sees them.
    if args.max_upload_mb is not None:
        os.environ["XRAYDEBLUR_MAX_UPLOAD_MB"] = str(args.max_upload_mb)
    if args.max_concurrent is not None:
        os.environ["XRAYDEBLUR_MAX_CONCURRENT"] = str(args.max_concurrent)
    if args.queue_timeout is not None:
        os.environ["XRAYDEBLUR_QUEUE_TIMEOUT"] = str(args.queue_timeout)

    import uvicorn

    from ..server.app import Settings

    try:
        Settings.from_env()  # fail now, with a one-line reason, on a bad setting
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"xraydeblur: note: listening on {args.host}; the API has no authentication", file=sys.stderr)
    print(f"xraydeblur: serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", file=sys.stderr)
    uvicorn.run(
        "xraydeblur.server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=log_config(args.log_level),
        server_header=False,
        limit_concurrency=128,
    )
    return 0
