"""Node settings: a YAML file and command-line options merged into one :class:`NodeConfig`.

The YAML keys are the long option names of ``xraydeblur node`` with ``_`` for ``-``
(``queue_size``, ``http_port``, ``sigma``...), plus ``destinations`` and ``rules``,
which only the file can describe in full::

    aet: XRAYDEBLUR
    port: 11112
    allow: [ORTHANC]
    method: wiener
    sigma: 1.5
    destinations:
      - name: pacs
        forward: ORTHANC@pacs.example.org:4242
        tls: true
      - name: web
        stow: https://pacs.example.org/dicom-web/studies
    rules:
      - name: chest
        modality: [DX, CR]
        body_part: [CHEST]
        send_to: [pacs, web]

An option given on the command line wins over the file; ``--allow``, ``--forward`` and
``--stow`` add to the file's lists (``allow:``, ``forward:``, ``stow:``). Without rules every image goes to every destination;
with rules an image is deblurred only when a rule matches it and goes to that rule's
destinations (all when the rule names none).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

#: settings with a built-in default; a ``None`` default means "not set"
DEFAULTS = {
    "aet": "XRAYDEBLUR",
    "host": "127.0.0.1",
    "port": 11112,
    "allow": [],
    "allow_any": False,
    "method": None,
    "device": None,
    "kernel": None,
    "sigma": None,
    "sigma_y": None,
    "angle": 0.0,
    "length": None,
    "radius": None,
    "scale": None,
    "psf": None,
    "denoise": None,
    "force": False,
    "safeguard": "report",
    "queue_size": 8,
    "workers": 1,
    "http_host": "127.0.0.1",
    "http_port": None,
    "tls_cert": None,
    "tls_key": None,
    "tls_ca": None,
    "forward_tls": False,
    "retry_for": 3600.0,
    "retry_max_interval": 60.0,
    "drain_timeout": 120.0,
    "max_pixels": None,
}
SAFEGUARD_MODES = ("off", "report")
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # no backslash, no control characters
_FORWARD = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>\[[0-9a-fA-F:]+\]|[^:@\s]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Destination:
    """Where derived images go: a C-STORE SCP (``kind="dicom"``) or a STOW-RS URL."""

    name: str
    kind: str
    aet: str = ""
    host: str = ""
    port: int = 0
    url: str = ""
    tls: bool = False

    @property
    def label(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}" if self.kind == "dicom" else self.url


@dataclass(frozen=True)
class Rule:
    """Which images to deblur and where to send them. Empty match lists match anything;
    values compare case-insensitively with the image's Modality, StationName and
    BodyPartExamined."""

    name: str
    modality: tuple = ()
    station: tuple = ()
    body_part: tuple = ()
    send_to: tuple = ()

    def matches(self, header) -> bool:
        for wanted, keyword in ((self.modality, "Modality"), (self.station, "StationName"), (self.body_part, "BodyPartExamined")):
            if wanted and str(header.get(keyword, "") or "").strip().upper() not in wanted:
                return False
        return True


@dataclass
class NodeConfig:
    aet: str
    host: str
    port: int
    allow: list
    allow_any: bool
    method: str | None
    device: str | None
    blur: dict  # kernel options as `xraydeblur deblur` takes them
    denoise: float | None
    force: bool
    safeguard: str
    queue_size: int
    workers: int
    http_host: str
    http_port: int | None
    tls_cert: str | None
    tls_key: str | None
    tls_ca: str | None
    retry_for: float
    retry_max_interval: float
    drain_timeout: float
    max_pixels: int | None
    destinations: list = field(default_factory=list)
    rules: list = field(default_factory=list)

    def destinations_for(self, header) -> list:
        """The destinations an image with this header goes to; [] when no rule matches."""
        if not self.rules:
            return list(self.destinations)
        for rule in self.rules:
            if rule.matches(header):
                names = set(rule.send_to)
                return [d for d in self.destinations if not names or d.name in names]
        return []

    def public(self) -> dict:
        """Settings safe to show on the status page (no key paths)."""
        return {
            "aet": self.aet,
            "port": self.port,
            "allow": "any" if self.allow_any else list(self.allow),
            "method": self.method,
            "blur": {k: v for k, v in self.blur.items() if v is not None and k != "psf"} or "blind",
            "psf": bool(self.blur.get("psf")),
            "denoise": self.denoise,
            "force": self.force,
            "safeguard": self.safeguard,
            "queue_size": self.queue_size,
            "workers": self.workers,
            "tls": bool(self.tls_cert),
            "destinations": [{"name": d.name, "kind": d.kind, "target": d.label, "tls": d.tls} for d in self.destinations],
            "rules": [r.name for r in self.rules],
        }


def parse_forward(spec: str, name: str | None = None, tls: bool = False) -> Destination:
    """``AET@HOST:PORT`` -> a C-STORE :class:`Destination`."""
    match = _FORWARD.match(str(spec).strip())
    if not match:
        raise InputError(f"--forward {spec!r}: expected AET@HOST:PORT, e.g. ORTHANC@10.0.0.5:4242")
    aet, host, port = match["aet"].strip(), match["host"].strip("[]"), int(match["port"])
    _check_aet(aet, "--forward")
    if not 0 < port < 65536:
        raise InputError(f"--forward {spec!r}: port must be 1-65535")
    return Destination(name or spec, "dicom", aet=aet, host=host, port=port, tls=tls)


def parse_stow(url: str, name: str | None = None) -> Destination:
    url = str(url).strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise InputError(f"--stow {url!r}: expected an http:// or https:// URL of a STOW-RS endpoint (…/studies)")
    return Destination(name or url, "stow", url=url.rstrip("/"), tls=url.startswith("https://"))


def _check_aet(value: str, what: str) -> str:
    if not _AE_TITLE.match(value) or not value.strip():
        raise InputError(f"{what} {value!r}: an AE title is 1-16 printable characters, no backslash")
    return value.strip()


def load_yaml(path: str | Path) -> dict:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--config {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"--config {path}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: expected a mapping of settings at the top level")
    known = set(DEFAULTS) | {"forward", "stow", "destinations", "rules"}
    unknown = sorted(str(k) for k in data if str(k).replace("-", "_") not in known)
    if unknown:
        raise InputError(f"--config {path}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _destinations(items, forward_tls: bool) -> list:
    out = []
    for i, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise InputError(f"destinations[{i}]: expected a mapping with forward: or stow:")
        name = str(item.get("name") or f"destination-{i + 1}")
        if ("forward" in item) == ("stow" in item):
            raise InputError(f"destination {name!r}: give exactly one of forward: AET@HOST:PORT or stow: URL")
        if "forward" in item:
            out.append(parse_forward(item["forward"], name, tls=bool(item.get("tls", forward_tls))))
        else:
            out.append(parse_stow(item["stow"], name))
    return out


def _as_tuple(value, what: str) -> tuple:
    if value is None:
        return ()
    values = [value] if isinstance(value, (str, int)) else value
    if not isinstance(values, (list, tuple)):
        raise InputError(f"{what}: expected a value or a list of values")
    return tuple(str(v).strip().upper() for v in values)


def _rules(items, destinations: list) -> list:
    names = {d.name for d in destinations}
    out = []
    for i, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise InputError(f"rules[{i}]: expected a mapping (modality:, station:, body_part:, send_to:)")
        name = str(item.get("name") or f"rule-{i + 1}")
        unknown = sorted(set(item) - {"name", "modality", "station", "body_part", "send_to"})
        if unknown:
            raise InputError(f"rule {name!r}: unknown key {unknown[0]!r} (modality, station, body_part, send_to)")
        send_to = tuple(str(v) for v in ([item["send_to"]] if isinstance(item.get("send_to"), str) else item.get("send_to") or []))
        missing = [n for n in send_to if n not in names]
        if missing:
            raise InputError(f"rule {name!r}: no destination named {missing[0]!r}")
        out.append(Rule(name, _as_tuple(item.get("modality"), name), _as_tuple(item.get("station"), name), _as_tuple(item.get("body_part"), name), send_to))
    return out


def build_config(cli: dict, config_file: str | None = None) -> NodeConfig:
    """Merge: the command line (``cli``: option -> value, None when not given) over the
    YAML file over :data:`DEFAULTS`. Raises :class:`InputError` with a one-line reason."""
    file = load_yaml(config_file) if config_file else {}
    merged = {}
    for key, default in DEFAULTS.items():
        value = cli.get(key)
        given = value is not None and value is not False and value != []
        merged[key] = value if given else file.get(key, default)
    merged["allow"] = [*(_as_list(file.get("allow"))), *(cli.get("allow") or [])]
    allow = sorted({_check_aet(str(a), "--allow") for a in merged["allow"]})
    if not allow and not merged["allow_any"]:
        raise InputError("no calling AE title is allowed to store: give --allow AET (the PACS's AE title), repeatable, or allow: in the config")
    aet = _check_aet(str(merged["aet"]), "--aet")

    destinations = _destinations(file.get("destinations"), bool(merged["forward_tls"]))
    destinations += [parse_forward(s, tls=bool(merged["forward_tls"])) for s in [*_as_list(file.get("forward")), *(cli.get("forward") or [])]]
    destinations += [parse_stow(s) for s in [*_as_list(file.get("stow")), *(cli.get("stow") or [])]]
    if not destinations:
        raise InputError("no destination: give --forward AET@HOST:PORT and/or --stow URL, or destinations: in the config")
    seen = set()
    for d in destinations:
        if d.name in seen:
            raise InputError(f"two destinations are named {d.name!r}")
        seen.add(d.name)
    rules = _rules(file.get("rules"), destinations)

    def number(key, kind, low):
        try:
            value = kind(merged[key])
        except (TypeError, ValueError):
            raise InputError(f"--{key.replace('_', '-')} must be a number") from None
        if value < low:
            raise InputError(f"--{key.replace('_', '-')} must be at least {low}")
        return value

    if merged["safeguard"] not in SAFEGUARD_MODES:
        raise InputError(f"--safeguard must be one of {', '.join(SAFEGUARD_MODES)}")
    if bool(merged["tls_cert"]) != bool(merged["tls_key"]):
        raise InputError("--tls-cert and --tls-key go together (the node's certificate and its private key)")
    denoise = None if merged["denoise"] is None else number("denoise", float, 0.0)
    if denoise is not None and denoise > 1.0:
        raise InputError("--denoise must be from 0 (keep the noise) to 1 (full restoration)")
    blur = {k: merged[k] for k in ("kernel", "sigma", "sigma_y", "angle", "length", "radius", "scale", "psf")}
    return NodeConfig(
        aet=aet,
        host=str(merged["host"]),
        port=number("port", int, 0),
        allow=allow,
        allow_any=bool(merged["allow_any"]),
        method=merged["method"],
        device=merged["device"],
        blur=blur,
        denoise=denoise,
        force=bool(merged["force"]),
        safeguard=merged["safeguard"],
        queue_size=number("queue_size", int, 1),
        workers=number("workers", int, 1),
        http_host=str(merged["http_host"]),
        http_port=None if merged["http_port"] is None else number("http_port", int, 0),
        tls_cert=merged["tls_cert"],
        tls_key=merged["tls_key"],
        tls_ca=merged["tls_ca"],
        retry_for=number("retry_for", float, 0.0),
        retry_max_interval=number("retry_max_interval", float, 0.1),
        drain_timeout=number("drain_timeout", float, 0.0),
        max_pixels=None if merged["max_pixels"] is None else number("max_pixels", int, 1),
        destinations=destinations,
        rules=rules,
    )


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
