"""Batch deblurring of files and folder trees (the engine behind ``xraydeblur deblur``).

The work is split in three steps so each can be used (and tested) on its own:

* :func:`collect_inputs` turns the files and folders a user named into a list of
  ``(input_path, relative_output_path)`` pairs; folders are walked recursively and their
  structure is mirrored;
* :func:`plan_jobs` places those pairs under an output file or folder, picks the output
  suffix, and refuses outputs that would overwrite an input or collide with each other;
* :func:`run_batch` runs :func:`process_one` on every job, in this process or in a pool
  of worker processes, streaming one :class:`ManifestRecord` per file as it completes.

Robustness rules: one bad file never stops the others (it gets status ``failed`` with a
one-line reason); an input is never overwritten; outputs (images, reports, manifests)
are written atomically (temporary file + rename), so an interrupted run leaves no
half-written file; worker processes die with their parent (even after ``kill -9``) and
are killed at once on Ctrl-C; nothing here prints.

Resuming: the manifest records each input's size and modification time, the run's
settings (method, version, format, kernel, report) and the output's size, so
:func:`resume_records` can skip the files a previous run of the same command
completed, as long as neither input nor output changed since. File names that are not
valid UTF-8 are written to the manifest with each undecodable byte as ``\\xHH``
(:func:`xraydeblur.errors.printable`).
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .pipeline import DEFAULT_DENOISE, derivation_label, rejected_psf_note, restore
from .errors import InputError, printable

#: suffixes (lower case) picked up when walking a folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom")
#: file name of the manifest written into an output folder
MANIFEST_NAME = "xraydeblur-manifest.csv"
#: suffixes appended to an output's name for its report and residual map
REPORT_SUFFIX = ".report.json"
RESIDUAL_SUFFIX = ".residual.png"

STATUSES = ("ok", "skipped", "failed")


@dataclass
class ManifestRecord:
    """One row of the manifest: what happened to one input file."""

    input: str
    output: str
    status: str  # "ok" | "skipped" | "failed"
    error: str = ""
    seconds: float = 0.0
    method: str = ""
    #: one-line notes on what was done besides deblurring (EXIF orientation applied,
    #: transparency flattened, flat image copied unchanged), joined with "; "
    note: str = ""
    #: the input's size (bytes) and modification time (ns) when it was processed
    input_size: int | None = None
    input_mtime_ns: int | None = None
    #: :func:`settings_key` of the run that wrote the output
    settings: str = ""
    #: size (bytes) of the output image written (empty when none was)
    output_size: int | None = None

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def row(self) -> dict:
        row = {key: "" if value is None else value for key, value in asdict(self).items()}
        row["seconds"] = f"{self.seconds:.3f}"
        for key in ("input", "output", "error", "note"):
            row[key] = printable(row[key])  # names that are not UTF-8: \\xHH escapes
        return row

    @classmethod
    def from_row(cls, row: dict) -> "ManifestRecord":
        """The record of one CSV row (missing or malformed numbers become None/0)."""

        def number(key, kind):
            try:
                return kind(row.get(key) or "")
            except ValueError:
                return None

        values = {name: row.get(name) or "" for name in cls.columns()}
        values.update(seconds=number("seconds", float) or 0.0, input_size=number("input_size", int))
        values.update(input_mtime_ns=number("input_mtime_ns", int), output_size=number("output_size", int))
        return cls(**values)


@dataclass
class Job:
    """One file to process: where it comes from and where its result goes."""

    input: Path
    output: Path
    #: a reason (one line) when the job must not run (would overwrite an input, collides)
    refused: str = ""


# --------------------------------------------------------------------------- inputs


def _looks_like_dicom(path: Path) -> bool:
    """Cheap test for extension-less DICOM files: the "DICM" marker at byte 128."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _is_candidate(path: Path) -> bool:
    if path.name.startswith("."):
        return False  # hidden files, editor droppings and our own ".name.XXXX.part" temp files
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    return suffix == "" and _looks_like_dicom(path)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def collect_inputs(paths: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """Expand files and folders into ``(input_path, relative_output_path)`` pairs.

    * A file is taken as it is (whatever its name; the reader detects the format) and
      its relative output path is its file name.
    * A folder is walked recursively, in sorted order; it contributes files ending in
      .png .jpg .jpeg .tif .tiff .dcm .dicom (any case) plus extension-less files with a
      DICOM Part 10 header ("DICM" at byte 128). Hidden files and folders (name starting
      with ".") are skipped, and so are ACR-NEMA files without a suffix (name them
      ``*.dcm``). The relative output path is the path inside that folder, so the folder
      structure is mirrored under the output folder.
    * ``exclude``: a folder (usually the output folder) whose files are never collected,
      so an output folder inside an input folder is not fed back in (an input folder
      that *is* the output folder is still walked: its outputs are refused later).
    * The same file named twice (directly and through its folder) is kept once.

    Raises :class:`InputError` for a path that does not exist.
    """
    excluded = Path(exclude).resolve() if exclude is not None else None
    pairs: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(file: Path, relative: Path) -> None:
        key = file.resolve()
        if key in seen:
            return
        seen.add(key)
        pairs.append((file, relative))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            skip = excluded if excluded is not None and excluded != path.resolve() else None
            for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
                here = Path(dirpath)
                dirnames[:] = sorted(
                    d for d in dirnames if not d.startswith(".") and not (skip is not None and _is_within((here / d).resolve(), skip))
                )
                for name in sorted(filenames):
                    file = here / name
                    if file.is_file() and _is_candidate(file):
                        add(file, file.relative_to(path))
        elif path.is_file():
            add(path, Path(path.name))
        elif path.exists():
            raise InputError(f"{path}: not a regular file or folder")
        else:
            raise InputError(f"{path}: no such file or folder")
    return pairs


def _output_name(relative: Path, fmt: str | None) -> Path:
    """``relative`` with the suffix of format ``fmt`` (unchanged when ``fmt`` is None or
    the suffix already means that format)."""
    if fmt is None:
        return relative
    from .io.write import SUFFIX_FORMAT, output_suffix

    suffix = relative.suffix.lower()
    if SUFFIX_FORMAT.get(suffix) == fmt:
        return relative
    if suffix in IMAGE_SUFFIXES:
        return relative.with_suffix(output_suffix(fmt))
    return relative.with_name(relative.name + output_suffix(fmt))


def output_is_file(paths: list[str | os.PathLike], output: str | os.PathLike) -> bool:
    """True when ``output`` names one output file: a single input file and an output with
    an image suffix that is not an existing folder."""
    from .io.write import SUFFIX_FORMAT

    output = Path(output)
    return len(paths) == 1 and Path(paths[0]).is_file() and output.suffix.lower() in SUFFIX_FORMAT and not output.is_dir()


def plan_jobs(paths: list[str | os.PathLike], output: str | os.PathLike, fmt: str | None = None) -> tuple[list[Job], bool]:
    """Inputs -> jobs; returns ``(jobs, output_is_dir)``.

    One input file and an ``output`` with an image suffix write that file; otherwise
    ``output`` is a folder and each input's relative path is mirrored under it (the
    suffix replaced when ``fmt`` asks for another format). A job whose output is one of
    the inputs, or is the output of an earlier job, is kept but ``refused``.
    """
    output = Path(output)
    if output_is_file(paths, output):
        from .io.write import SUFFIX_FORMAT

        implied = SUFFIX_FORMAT[output.suffix.lower()]
        if fmt is not None and fmt != implied:
            raise InputError(f"--format {fmt} disagrees with the output name {output.name}; use a {implied} name or drop --format")
        src = Path(paths[0])
        jobs, as_dir = [Job(src, output)], False
    else:
        if output.exists() and not output.is_dir():
            raise InputError(f"{output}: exists and is not a folder (several inputs need an output folder)")
        pairs = collect_inputs(paths, exclude=output)
        if not pairs:
            raise InputError(f"no radiographs found in {', '.join(str(p) for p in paths)} (looked for {' '.join(IMAGE_SUFFIXES)})")
        jobs, as_dir = [Job(src, output / _output_name(rel, fmt)) for src, rel in pairs], True

    inputs = {job.input.resolve(): job.input for job in jobs}
    taken: dict[Path, Path] = {}
    for job in jobs:
        target = job.output.resolve()
        if target in inputs:
            job.refused = f"output {job.output} would overwrite the input {inputs[target]}; choose another output"
        elif target in taken:
            job.refused = f"output {job.output} is also the output of {taken[target]}"
        else:
            taken[target] = job.input
    return jobs, as_dir


# --------------------------------------------------------------------------- one file

def resolve_method(name: str | None, kernel_known: bool = False):
    """The :class:`~xraydeblur.methods.Method` called ``name`` (default: the best shipped;
    with ``kernel_known``, the best kernel-aware one).
    Unknown names raise :class:`InputError` listing the available methods. Batch runs
    call it once per process (see :func:`run_batch`)."""
    from .methods import available_methods, default_method, get_method

    available = available_methods()
    key = name or default_method(kernel_known)
    if key not in available:
        raise InputError(f"unknown method {key!r}; available: {', '.join(available)}")
    return get_method(key)


def _one_line(exc: BaseException, path: Path | None = None) -> str:
    text = printable(" ".join(str(exc).split()))
    if not isinstance(exc, InputError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if path is not None:
        for prefix in (f"{printable(path)}: ", f"{printable(path.name)}: "):  # the caller already names the file
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
    return text[:300]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    return str(value)


def _residual_png(residual: np.ndarray, full_scale: float | None = None) -> bytes:
    """A residual map as an 8-bit PNG of its absolute values: ``full_scale`` maps to
    white; by default values already in [0, 1] are kept and others stretched to the
    maximum."""
    from PIL import Image

    arr = np.squeeze(np.nan_to_num(np.asarray(residual, dtype=np.float64)))
    if full_scale:
        arr = np.abs(arr) / full_scale
    elif arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
        arr = np.abs(arr)
        top = float(arr.max(initial=0))
        arr = arr / top if top > 0 else arr
    buf = _io.BytesIO()
    Image.fromarray(np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def build_report(rad, result, method, output: Path, seconds: float, input_path: Path) -> dict:
    """The per-image JSON report: the pipeline's facts (:func:`xraydeblur.pipeline.restore`;
    None for a flat image, which no method ran on) with the file facts; writes the
    safeguard's residual map as ``<output>.residual.png`` when there is one."""
    facts = dict(result.facts) if result is not None else {"method": method.name, "unchanged": True}
    report = {
        "input": printable(input_path),
        "output": printable(output),
        **facts,
        "version": method.version,
        "seconds": round(seconds, 4),
        "width": rad.width,
        "height": rad.height,
        "bits": rad.bits_stored,
        "format": rad.format,
        **_kernel_facts(result.kernel if result is not None else None),
    }
    if result is not None and result.residual_map is not None:
        from .io.write import write_bytes_atomic

        target = output.with_name(output.name + RESIDUAL_SUFFIX)
        threshold = float((facts.get("safeguard") or {}).get("threshold") or 0) or None
        write_bytes_atomic(_residual_png(result.residual_map, 2.0 * threshold if threshold else None), target)
        report["residual_map"] = target.name
        report["residual_map_scale"] = "|map| / (2 * threshold): mid-grey = flag threshold" if threshold else "|map| / max"
    return report


def _kernel_facts(kernel: np.ndarray | None) -> dict:
    """How the PSF in use was read: its blur family (the tuned defaults' and the data
    step's class) and RMS radius in px; None for both when there is none."""
    if kernel is None:
        return {"kernel_family": None, "kernel_rms_radius_px": None}
    from .classical._defaults import kernel_family
    from .infer.data_step import kernel_rms_radius

    return {"kernel_family": kernel_family(kernel), "kernel_rms_radius_px": round(kernel_rms_radius(kernel), 3)}


def process_one(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    method: str | None = None,
    kernel: np.ndarray | None = None,
    fmt: str | None = None,
    report: bool = False,
    skip_existing: bool = False,
    protected: Iterable[str | os.PathLike] = (),
    settings: str = "",
    denoise: float = DEFAULT_DENOISE,
    force: bool = False,
    safeguard: bool = True,
) -> ManifestRecord:
    """Deblur one file; never raises for a bad file (returns a ``failed`` record).

    ``method``: a name (None: the default) or a Method; ``kernel``: the known
    PSF or None (blind); ``fmt``: output format (default: from the output suffix, else
    the input's format); ``report``: also write ``<output>.report.json`` with method,
    version, weights hash, seconds, size, bits, sharpness before/after, estimated blur
    before/after (when :mod:`xraydeblur.classical.estimate` exists) and the safeguard
    report (when :mod:`xraydeblur.safeguard` exists), and ``<output>.residual.png``;
    ``protected``: paths (the inputs) the output must never be; ``settings``: the
    :func:`settings_key` recorded for resuming; ``denoise``, ``force``: as
    :func:`xraydeblur.pipeline.restore`, which does the work; ``safeguard``: check the
    result's consistency with the input (always with ``report``), and say in the
    record's note when it fails (:func:`safeguard_note`). Images under
    :data:`~xraydeblur.io.guard.MIN_SIDE` px are refused; a flat image (all pixels
    equal) is written unchanged without running the method. ``KeyboardInterrupt``
    propagates.
    """
    from .io import check_min_side, flat_value, read_radiograph
    from .io.write import encode_radiograph, format_for_path, write_bytes_atomic

    src, out = Path(input_path), Path(output_path)
    start = time.perf_counter()
    record = ManifestRecord(str(src), str(out), "failed", settings=settings)
    try:
        method = resolve_method(method) if method is None or isinstance(method, str) else method
        record.method = method.name
        target = out.resolve()
        if any(Path(p).resolve() == target for p in [src, *protected]):
            raise InputError(f"output {printable(out)} would overwrite an input; choose another output")
        if skip_existing and out.exists():
            record.status = "skipped"
            return record
        record.input_size, record.input_mtime_ns = input_fingerprint(src)
        rad = read_radiograph(src)
        check_min_side(rad.width, rad.height)
        out_fmt = fmt or format_for_path(out, rad.format)
        if out_fmt == "dicom" and rad.format != "dicom":
            raise InputError(f"DICOM output needs a DICOM input (this is {rad.format}); choose --format png or tiff")
        notes = list(rad.info.get("notes", []))
        t0 = time.perf_counter()
        flat = flat_value(rad.pixels)
        result = None
        encoding = {"model_version": method.version, "weights_sha256": method.weights_sha256}
        if flat is None:
            # a deblurred output is encoded while the safeguard checks it
            def encode_deblurred(pixels: np.ndarray) -> bytes:
                return encode_radiograph(rad, pixels, out_fmt, method=derivation_label(method.name, {"denoise": denoise}), **encoding)

            result = restore(rad.pixels, method, kernel=kernel, denoise=denoise, force=force, safeguard=safeguard or report, with_map=report,
                             measure_output=report, measure_sharpness=report, while_checking=encode_deblurred)
            restored = result.pixels
            if rejected := rejected_psf_note(result.facts):
                notes.append(rejected)
            if result.facts["unchanged"]:
                notes.append(result.facts["unchanged_reason"])
            elif failed := safeguard_note(result.facts):
                where = f"residual map: {out.name}{RESIDUAL_SUFFIX}" if report else "--report writes a residual map showing where"
                notes.append(f"{failed} ({where})")
        else:  # nothing to deblur: no method run, the pixels are written back unchanged
            restored = rad.pixels.copy()
            notes.append(f"flat image (every pixel {flat:.4g} of full scale): written unchanged, no deblurring")
        seconds = time.perf_counter() - t0
        encoded = result.prepared if result is not None else None
        if encoded is None:  # unchanged or flat: labelled so
            label = derivation_label(method.name, result.facts if result else {"unchanged": True, "denoise": denoise})
            encoded = encode_radiograph(rad, restored, out_fmt, method=label, **encoding)
        write_bytes_atomic(encoded, out)
        record.note = "; ".join(notes)
        if report:
            data = build_report(rad, result, method, out, seconds, src)
            if notes:
                data["notes"] = notes
            text = json.dumps(_json_safe(data), indent=2, default=_json_default, allow_nan=False)
            write_bytes_atomic((text + "\n").encode(), out.with_name(out.name + REPORT_SUFFIX))
        record.output_size = out.stat().st_size
        record.status = "ok"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of one file is recorded, not raised
        record.error = _one_line(exc, src)
    finally:
        record.seconds = time.perf_counter() - start
    return record


#: how a record's note starts when the safeguard failed (printed even with --quiet)
SAFEGUARD_FAILED = "safeguard FAILED"


def safeguard_note(facts: dict) -> str:
    """One line for a restoration whose safeguard failed (:func:`xraydeblur.pipeline.restore`'s
    ``facts``), naming the given blur when there was one; "" when it passed or did not run."""
    report = facts.get("safeguard") or {}
    if report.get("consistent", True):
        return ""
    if report.get("given_psf_contradicted"):
        return (
            f"{SAFEGUARD_FAILED}: the blur given is not in the input (its spectrum is explained {report.get('given_psf_fit_ratio')} "
            "times worse with it than with no blur); the restoration amplified noise and fine detail into texture; "
            "check the blur given or use the default (blind) method"
        )
    blur = "the blur given may be wrong, or " if facts.get("kernel_source") == "given" else ""
    shows = "" if facts.get("shows_blur", True) else f"; the input shows little blur itself (estimated {facts.get('estimated_blur_before')} px)"
    return (
        f"{SAFEGUARD_FAILED} (score {report.get('score')}, largest flagged region {report.get('largest_flagged_region_px')} px): "
        f"the restoration does not explain the input everywhere ({blur}structure was added or removed){shows}; read the original where it is flagged"
    )


def input_fingerprint(path: Path) -> tuple[int | None, int | None]:
    """(size in bytes, modification time in ns) of a file, (None, None) if it cannot be
    stat'ed (the reader then gives the reason)."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def settings_key(method, kernel: np.ndarray | None, fmt: str | None, report: bool, denoise: float = DEFAULT_DENOISE, force: bool = False) -> str:
    """A short hash (12 hex digits) of everything that decides an output's bytes: method
    name, version and weights hash, the known kernel's values, output format, whether
    reports are written, denoise strength and force. Two runs with the same key make
    the same outputs."""
    parts = [getattr(method, "name", str(method)), getattr(method, "version", ""), getattr(method, "weights_sha256", ""), str(fmt), str(bool(report)), f"{denoise:g}", str(bool(force))]
    digest = hashlib.sha256("\0".join(parts).encode())
    if kernel is not None:
        digest.update(np.ascontiguousarray(kernel, dtype=np.float64).tobytes())
    return digest.hexdigest()[:12]


def _json_safe(value):
    """Standard JSON: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- many files

_WORKER: dict = {}
#: seconds between a worker's checks that its parent is still alive
PARENT_POLL_S = 0.5


def _die_with_parent(parent: int) -> None:
    """Make this worker process exit as soon as its parent (pid ``parent``) is gone, even
    after ``kill -9``: Linux's parent-death signal (SIGKILL), and a daemon thread that
    polls the parent pid every :data:`PARENT_POLL_S` s (other systems, and a backup)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="xraydeblur-parent-watch", daemon=True).start()


def _init_worker(method: str | None, device: str | None, threads: int, parent: int | None = None) -> None:
    """Pool initializer: die with the parent, ignore Ctrl-C (the parent decides and
    kills the workers), limit threads, resolve the method once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent)
    if device:
        os.environ["XRAYDEBLUR_DEVICE"] = device
    if "torch" in sys.modules:
        try:
            sys.modules["torch"].set_num_threads(threads)
        except Exception:
            pass
    try:
        _WORKER["method"] = resolve_method(method)
    except Exception:
        _WORKER["method"] = method  # process_one reports the reason per file


def _work(job_input: Path, job_output: Path, kernel, fmt, report, skip_existing, settings="", denoise=DEFAULT_DENOISE, force=False, safeguard=True) -> ManifestRecord:
    return process_one(
        job_input, job_output, _WORKER.get("method"), kernel, fmt, report, skip_existing, settings=settings, denoise=denoise, force=force, safeguard=safeguard
    )


def pool_context(device: str | None = None):
    """Process start method: 'fork' on Linux (workers inherit methods registered at run
    time, and start fast), 'spawn' for CUDA (a forked CUDA context is unusable)."""
    if device == "cuda":
        return multiprocessing.get_context("spawn")
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def run_batch(
    jobs: list[Job],
    method: str | None = None,
    kernel: np.ndarray | None = None,
    fmt: str | None = None,
    report: bool = False,
    skip_existing: bool = False,
    workers: int = 1,
    device: str | None = None,
    on_record: Callable[[int, ManifestRecord], None] | None = None,
    completed: dict[int, ManifestRecord] | None = None,
    settings: str = "",
    denoise: float = DEFAULT_DENOISE,
    force: bool = False,
    safeguard: bool = True,
) -> list[ManifestRecord]:
    """Process ``jobs``; returns one record per job, in job order.

    ``on_record(index, record)`` is called as each file completes (in completion order
    with several workers). ``completed``: records (job index -> record, e.g. from
    :func:`resume_records`) of jobs not to run again; they are reported first.
    ``settings``: the :func:`settings_key` written into each record; ``safeguard``: as
    :func:`process_one`. With
    ``workers > 1`` a process pool is used (see :func:`pool_context`), each worker
    resolving the method once and exiting when this process dies. On Ctrl-C no new
    file is started, the workers are killed at once (their unfinished outputs' temporary
    files are removed, so no partial output remains), the records of finished files
    are still reported through ``on_record``, and ``KeyboardInterrupt`` is re-raised.
    """
    records: list[ManifestRecord | None] = [None] * len(jobs)
    completed = completed or {}

    def done(index: int, record: ManifestRecord) -> None:
        records[index] = record
        if on_record is not None:
            on_record(index, record)

    pending = []
    for index, job in enumerate(jobs):
        if job.refused:
            done(index, ManifestRecord(str(job.input), str(job.output), "failed", job.refused, 0.0, getattr(method, "name", method or "")))
        elif index in completed:
            done(index, completed[index])
        else:
            pending.append(index)

    if workers <= 1 or len(pending) <= 1:
        resolved = resolve_method(method) if method is None or isinstance(method, str) else method
        for index in pending:
            job = jobs[index]
            done(index, process_one(job.input, job.output, resolved, kernel, fmt, report, skip_existing, settings=settings, denoise=denoise, force=force, safeguard=safeguard))
        return records  # type: ignore[return-value]

    name = method if method is None or isinstance(method, str) else method.name
    threads = max(1, (os.cpu_count() or 1) // workers)
    executor = ProcessPoolExecutor(
        max_workers=min(workers, len(pending)), mp_context=pool_context(device), initializer=_init_worker, initargs=(name, device, threads, os.getpid())
    )
    futures = {}
    try:
        for index in pending:
            job = jobs[index]
            futures[executor.submit(_work, job.input, job.output, kernel, fmt, report, skip_existing, settings, denoise, force, safeguard)] = index
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in finished:
                done(futures[future], _future_record(future, jobs[futures[future]], name))
    except KeyboardInterrupt:
        _kill_pool(executor)
        for future, index in futures.items():
            if records[index] is None and future.done() and not future.cancelled() and future.exception() is None:
                done(index, future.result())
            elif records[index] is None:
                remove_partial_outputs(jobs[index].output)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return records  # type: ignore[return-value]


def _kill_pool(executor: ProcessPoolExecutor, grace: float = 1.0) -> None:
    """Cancel every queued file and SIGKILL the workers now (Ctrl-C must not wait for
    the files in progress); waits at most ``grace`` s for them to be gone."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            proc.kill()
        except Exception:  # already gone
            pass
    deadline = time.monotonic() + grace
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))


def remove_partial_outputs(output: Path) -> None:
    """Delete the temporary files (``.NAME*.part``) a killed worker left for ``output``
    and its report and residual map."""
    import glob

    for tmp in output.parent.glob(f".{glob.escape(output.name)}*.part"):
        tmp.unlink(missing_ok=True)


def _future_record(future, job: Job, method_name: str | None) -> ManifestRecord:
    exc = future.exception()
    if exc is None:
        return future.result()
    reason = _one_line(exc)
    if type(exc).__name__ == "BrokenProcessPool":
        reason = "a worker process died (out of memory?); rerun with fewer --workers"
    return ManifestRecord(str(job.input), str(job.output), "failed", reason, 0.0, method_name or "")


def write_manifest(records: Iterable[ManifestRecord | None], path: str | os.PathLike) -> Path:
    """Write the CSV manifest (columns: :meth:`ManifestRecord.columns`) atomically, UTF-8
    (names that are not UTF-8 with ``\\xHH`` escapes); ``None`` entries (files never
    started) are left out."""
    from .io.write import write_bytes_atomic

    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ManifestRecord.columns(), lineterminator="\n")
    writer.writeheader()
    for record in records:
        if record is not None:
            writer.writerow(record.row())
    return write_bytes_atomic(buf.getvalue().encode("utf-8"), path)


def read_manifest(path: str | os.PathLike) -> list[ManifestRecord]:
    """The records of a manifest written by :func:`write_manifest`; [] when there is no
    readable manifest (a resume then redoes everything)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    try:
        return [ManifestRecord.from_row(row) for row in csv.DictReader(_io.StringIO(text))]
    except (csv.Error, TypeError):
        return []


def resume_records(jobs: list[Job], manifest: str | os.PathLike, settings: str) -> dict[int, ManifestRecord]:
    """Jobs a previous run already completed, as ``skipped`` records (job index ->
    record): the manifest at ``manifest`` lists the same input and output as done
    (``ok``, or ``skipped`` by an earlier resume) with the same ``settings``; the input
    still has the recorded size and modification time, and the output the recorded
    size. Anything else (no manifest, changed input, missing or changed output, other
    method or options) is redone."""
    previous = {(rec.input, rec.output): rec for rec in read_manifest(manifest)}
    completed: dict[int, ManifestRecord] = {}
    for index, job in enumerate(jobs):
        rec = previous.get((printable(job.input), printable(job.output)))
        if job.refused or rec is None or rec.status not in ("ok", "skipped") or rec.settings != settings or rec.output_size is None:
            continue
        if input_fingerprint(job.input) != (rec.input_size, rec.input_mtime_ns):
            continue
        try:
            if job.output.stat().st_size != rec.output_size:
                continue
        except OSError:
            continue
        completed[index] = ManifestRecord(
            str(job.input), str(job.output), "skipped", "", 0.0, rec.method, "done by an earlier run (input and output unchanged)",
            rec.input_size, rec.input_mtime_ns, settings, rec.output_size,
        )
    return completed


class ManifestWriter:
    """Keeps a batch's manifest current while it runs, so a run that is killed (even
    with ``kill -9``) can be resumed: :meth:`add` rewrites the file (atomically) when
    ``interval`` seconds have passed since the last write; :meth:`flush` writes now."""

    def __init__(self, path: str | os.PathLike, size: int, interval: float = 2.0):
        self.path, self.interval = Path(path), float(interval)
        self.records: list[ManifestRecord | None] = [None] * size
        self._written = time.monotonic()

    def add(self, index: int, record: ManifestRecord) -> None:
        """Record one finished job (and write the file if it is due)."""
        self.records[index] = record
        if time.monotonic() - self._written >= self.interval:
            self.flush()

    def flush(self) -> Path:
        """Write the manifest now."""
        self._written = time.monotonic()
        return write_manifest(self.records, self.path)


def summarize(records: Iterable[ManifestRecord | None]) -> dict:
    """Counts per status."""
    counts = dict.fromkeys(STATUSES, 0)
    for record in records:
        if record is not None:
            counts[record.status] += 1
    return counts
