"""``xraydeblur node``: a DICOM node that receives radiographs from the PACS, deblurs
them and sends the derived images back.

It accepts C-ECHO and C-STORE (DX for presentation/processing, CR, Secondary Capture;
uncompressed, JPEG 2000, JPEG-LS and JPEG lossless) from the calling AE titles given
with --allow, deblurs each image with --method and the blur options (as 'xraydeblur
deblur' does), and sends the derived image (new SOP Instance UID, a derived series in
the same study, ImageType DERIVED, SourceImageSequence) to every --forward AET@HOST:PORT
(C-STORE) and --stow URL (DICOMweb STOW-RS). A --config YAML file holds the same
settings plus several destinations and rules (only DX/CR, only a station or body part);
see docs/node.md.

Nothing is written to disk. Images wait in a bounded in-memory queue (--queue-size):
when it is full the node answers C-STORE with 0xA700 (out of resources) so the sender
keeps the image and retries; an image whose pixel data cannot be decoded gets 0xC000;
a deblur failure is logged with a one-line reason and counted; a failed forward is
retried with back-off for --retry-for seconds, then reported. The log (stderr) is one
JSON line per image with UIDs, AE titles and timings, never names or pixels. SIGTERM
(or Ctrl-C) stops accepting, finishes what is in memory within --drain-timeout and
exits (status 0, or 1 if some image was left unfinished: the log names each one).
"""

from .common import HelpFormatter, add_kernel_arguments, add_psf_argument

EXAMPLES = """examples:
  xraydeblur node --allow ORTHANC --forward ORTHANC@127.0.0.1:4242
  xraydeblur node --port 11112 --aet XRAYDEBLUR --allow PACS --allow MODALITY1 \\
      --forward PACS@10.0.0.5:104 --method wiener --sigma 1.5 --http-port 8081
  xraydeblur node --allow PACS --stow https://pacs.example.org/dicom-web/studies \\
      --tls-cert node.pem --tls-key node.key --tls-ca hospital-ca.pem
  xraydeblur node --config /etc/xraydeblur/node.yaml

Orthanc (orthanc.json) knows the node as a modality:
  "DicomModalities": { "xraydeblur": ["XRAYDEBLUR", "127.0.0.1", 11112] }
and sends a study with  curl -X POST http://orthanc:8042/modalities/xraydeblur/store -d '["<study id>"]'
"""


class _Formatter(HelpFormatter):
    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def register(subparsers) -> None:
    from ..node.config import DEFAULTS, SAFEGUARD_MODES

    p = subparsers.add_parser("node", help="DICOM node: receive from the PACS, deblur, send back", description=__doc__, epilog=EXAMPLES, formatter_class=_Formatter)
    p.add_argument("--config", metavar="YAML", help="settings file (keys: the long option names; plus destinations: and rules:); options given here win")
    net = p.add_argument_group("DICOM (receiving)")
    net.add_argument("--aet", help=f"the node's AE title (default {DEFAULTS['aet']})")
    net.add_argument("--port", type=int, help=f"DICOM port to listen on (default {DEFAULTS['port']}; 0: any free port)")
    net.add_argument("--host", help=f"address to listen on (default {DEFAULTS['host']}; 0.0.0.0 for all)")
    net.add_argument("--allow", action="append", metavar="AET", help="calling AE title allowed to connect and store (repeatable); others are rejected at association")
    net.add_argument("--allow-any", action="store_true", help="accept every calling AE title (not recommended)")
    dest = p.add_argument_group("destinations (sending)")
    dest.add_argument("--forward", action="append", metavar="AET@HOST:PORT", help="send derived images by C-STORE to this AE (repeatable)")
    dest.add_argument("--stow", action="append", metavar="URL", help="send derived images by DICOMweb STOW-RS to this URL, e.g. http://pacs:8042/dicom-web/studies (repeatable)")
    dest.add_argument("--retry-for", type=float, metavar="S", help=f"keep retrying a failed send for this many seconds (default {DEFAULTS['retry_for']:g})")
    dest.add_argument("--retry-max-interval", type=float, metavar="S", help=f"longest wait between retries; waits double from 1 s (default {DEFAULTS['retry_max_interval']:g})")
    work = p.add_argument_group("deblurring")
    work.add_argument("--method", metavar="NAME", help="deblurring method (default: as 'xraydeblur deblur'); 'xraydeblur deblur --method list' shows them")
    work.add_argument("--device", choices=["cpu", "cuda"], help="device for network methods")
    work.add_argument("--denoise", type=float, metavar="S", help="denoise strength from 0 to 1, as for 'xraydeblur deblur': 0 undoes the blur and keeps the noise texture; 1 also removes the noise (default: deblur's)")
    work.add_argument("--force", action="store_true", help="deblur even an image that shows no blur (by default it is sent back unchanged, as 'xraydeblur deblur' writes it)")
    work.add_argument("--safeguard", choices=SAFEGUARD_MODES, help=f"data-consistency check of each result, logged per image (default {DEFAULTS['safeguard']})")
    work.add_argument("--workers", type=int, metavar="N", help=f"images deblurred in parallel (default {DEFAULTS['workers']})")
    work.add_argument("--queue-size", type=int, metavar="N", help=f"images held in memory at most (received, not yet delivered); more get 0xA700 (default {DEFAULTS['queue_size']})")
    work.add_argument("--max-pixels", type=int, metavar="N", help="largest accepted image in pixels (default: the readers' limit)")
    add_kernel_arguments(p, default_kernel=None)  # its own group (argparse deprecates nesting)
    add_psf_argument(work)
    sec = p.add_argument_group("security and operation")
    sec.add_argument("--tls-cert", metavar="PEM", help="the node's certificate: turns on TLS on the DICOM port (and is shown to TLS destinations)")
    sec.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    sec.add_argument("--tls-ca", metavar="PEM", help="CA certificates: callers must present a certificate they signed; TLS destinations are verified with them (default: the system's)")
    sec.add_argument("--forward-tls", action="store_true", help="use TLS for --forward destinations")
    sec.add_argument("--http-port", type=int, metavar="PORT", help="serve /healthz and /status (JSON) on this port (0: any free port)")
    sec.add_argument("--http-host", help=f"address of the status port (default {DEFAULTS['http_host']})")
    sec.add_argument("--drain-timeout", type=float, metavar="S", help=f"on SIGTERM, time to finish what is in memory (default {DEFAULTS['drain_timeout']:g})")
    sec.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info", help="log verbosity (stderr, one JSON object per line)")
    p.set_defaults(func=run, angle=None)  # None: not given here, so a config file's angle counts


def _setup_logging(level: str) -> None:
    import logging
    import sys

    from ..node.stats import JsonLineFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("xraydeblur.node")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # its lines may carry dataset details


def config_from_args(args):
    """The :class:`~xraydeblur.node.config.NodeConfig` of parsed ``xraydeblur node`` options."""
    from ..node import build_config
    from ..node.config import DEFAULTS

    cli = {key: getattr(args, key, None) for key in DEFAULTS}
    cli["forward"], cli["stow"] = args.forward, args.stow
    return build_config(cli, args.config)


def run(args) -> int:
    import signal

    from ..allocator import prefault_heap, tune_allocator
    from ..node import Node

    config = config_from_args(args)
    _setup_logging(args.log_level)
    tune_allocator(single_arena=True)  # before any thread starts: as the web server (xraydeblur.allocator)
    node = Node(config)
    prefault_heap()  # the first image's working memory, touched now

    def on_signal(signum, frame):
        node.request_stop()

    # installed until the drain is over: a repeated SIGTERM must not cut it short
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        node.start()
        node.wait()
        left = node.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if left else 0
