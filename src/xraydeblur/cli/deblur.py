"""``xraydeblur deblur``: deblur radiograph files and folder trees.

INPUT is any number of files and folders. Folders are walked recursively for .png .jpg
.jpeg .tif .tiff .dcm .dicom files (and extension-less files with a DICOM "DICM" header;
hidden files are skipped) and their structure is mirrored under OUTPUT. With one input
file and an OUTPUT ending in an image suffix, OUTPUT is that file; otherwise it is a
folder. Each result has its input's format (DICOM in gives a DERIVED DICOM out, naming
method, version and weights hash) unless --format says otherwise; 16-bit stays 16-bit.

Without a known blur the method runs blind (estimates what it needs); --sigma or the
kernel options pass the known PSF, --psf a measured one (.npy or grayscale PNG/TIFF,
odd sides, centred, non-negative, in pixels of the input). A file that fails does not stop the others: the
manifest (CSV) records every file as ok, skipped or failed with a one-line reason.
Inputs are never overwritten and outputs are written atomically. Images under 16x16
pixels are refused; a flat image (all pixels equal) is copied unchanged; a JPEG/TIFF's
EXIF orientation is applied on read (the manifest's note says so). File names that are
not valid UTF-8 appear in the manifest and messages with \\xHH escapes.

Re-running the same command resumes: files the manifest records as done, whose input
and output are unchanged since and that were made with the same method and options,
are skipped (--redo does them all again). Ctrl-C stops at once: no new file is
started, files in progress are abandoned (no partial output) and worker processes
killed, and the manifest lists what was finished. Exit status: 0 all done, 1 some file failed, 2 bad
usage, 130 interrupted.
"""

import os
import signal
import sys
import time
from pathlib import Path

from ..errors import InputError, printable
from ..pipeline import DEFAULT_DENOISE
from .common import HelpFormatter, add_kernel_arguments, add_psf_argument, degradation_from_args, ensure_not_input

EXAMPLES = """examples:
  xraydeblur deblur chest.dcm -o chest-deblurred.dcm
  xraydeblur deblur scans/ -o deblurred/ --workers 4          (run again to resume)
  xraydeblur deblur a.png b.tif -o out/ --method wiener --sigma 2
  xraydeblur deblur moved.png -o fixed.png --kernel motion --length 9 --angle 30
  xraydeblur deblur scans/ -o out/ --psf focal_spot_psf.npy --report
  xraydeblur deblur scans/ -o out/ --method nafnet-blind --device cuda --report
  xraydeblur deblur study/ -o pngs/ --format png --manifest run.csv --quiet
  xraydeblur deblur --method list
"""

FORMATS = ("png", "tiff", "dicom", "jpeg")


class _Formatter(HelpFormatter):
    """Shows defaults only where there is one (no "(default: None)" noise)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _denoise(text: str) -> float:
    """argparse type for --denoise: a number in [0, 1]."""
    import argparse

    from ..pipeline import check_denoise

    try:
        return check_denoise(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers) -> None:
    p = subparsers.add_parser("deblur", help="deblur radiograph files and folders", description=__doc__, epilog=EXAMPLES, formatter_class=_Formatter)
    p.add_argument("input", nargs="*", metavar="INPUT", help="radiograph files (PNG, JPEG, TIFF, DICOM) and/or folders")
    p.add_argument("-o", "--output", metavar="OUTPUT", help="output folder, or output file for a single input file")
    p.add_argument("--method", metavar="NAME", help="deblurring method (default: the best shipped one, or with --sigma/--kernel the best kernel-aware one); 'list' shows them")
    p.add_argument("--list-methods", action="store_true", help="print the available methods and exit")
    p.add_argument("--device", choices=["cpu", "cuda"], help="device for network methods (default: the method's choice)")
    p.add_argument("--denoise", type=_denoise, default=DEFAULT_DENOISE, metavar="S", help="denoise strength from 0 to 1: 0 (default) undoes the blur and keeps the noise texture as it was; 1 also removes the noise (full restoration); recorded in reports and DICOM DerivationDescription")
    p.add_argument("--force", action="store_true", help="deblur even an image that shows no blur (by default such an image is written unchanged, and the report and manifest say so)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="files processed in parallel (worker processes)")
    p.add_argument("--redo", action="store_true", help="process every file again, even those a previous run of this command completed (default: resume, skipping them)")
    p.add_argument("--skip-existing", action="store_true", help="skip every file whose output already exists, whatever made it (resuming, the default, skips only outputs the manifest shows this command made from the unchanged input)")
    p.add_argument("--format", choices=FORMATS, help="output format (default: same as each input)")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write, next to each output, <output>.report.json (method, timing, sharpness, safeguard) and <output>.residual.png (the safeguard's residual map)",
    )
    p.add_argument(
        "--no-safeguard",
        action="store_true",
        help="skip the data-consistency check of each result (by default it runs, and a file whose restoration does not explain its input gets a warning line and a manifest note; a PSF that nafnet-auto or nafnet-psf identified is then used without that check's veto)",
    )
    p.add_argument("--manifest", metavar="PATH", help="CSV manifest path (default: OUTPUT/xraydeblur-manifest.csv for a folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary (failures are still printed)")
    add_kernel_arguments(p, default_kernel=None)
    add_psf_argument(p)
    p.set_defaults(func=run)


def print_methods() -> int:
    from ..methods import available_methods, get_method

    rows = [get_method(name) for name in available_methods()]
    width = max(len(m.name) for m in rows) + len(" (default)")
    kind_width = max(len(m.kind) for m in rows)
    ver_width = max([len(m.version or "-") for m in rows])
    for i, m in enumerate(rows):
        label = m.name + (" (default)" if i == 0 else "")
        print(f"{label:<{width}}  {m.kind:<{kind_width}}  {m.version or '-':<{ver_width}}  {m.description}")
    return 0


def _cuda_available() -> bool:
    import torch  # imported here: it costs seconds at every CLI start

    return bool(torch.cuda.is_available())


def kernel_from_args(args):
    """The known PSF from --psf, or from --sigma / --kernel options, or None (blind);
    and a label."""
    extra = [flag for flag, value in (("--sigma-y", args.sigma_y), ("--length", args.length), ("--radius", args.radius), ("--scale", args.scale)) if value is not None]
    if getattr(args, "psf", None):
        from ..degrade.measured import load_psf

        given = [flag for flag, value in (("--kernel", args.kernel), ("--sigma", args.sigma)) if value is not None] + extra
        if given:
            raise InputError(f"--psf and {given[0]} both describe the blur; give one of them")
        psf = load_psf(args.psf)
        return psf, f"psf {Path(args.psf).name} ({psf.shape[0]}x{psf.shape[1]})"
    if args.kernel is None:
        if args.sigma is None:
            if extra:
                raise InputError(f"{extra[0]} needs --kernel (which blur family?)")
            return None, "blind"
        args.kernel = "gaussian"
    degradation = degradation_from_args(args, seed=0)
    return degradation.kernel(), degradation.name


def run(args) -> int:
    from ..batch import MANIFEST_NAME, SAFEGUARD_FAILED, ManifestWriter, plan_jobs, remove_partial_outputs, resolve_method, resume_records, run_batch, settings_key, summarize

    if args.list_methods or args.method == "list":
        return print_methods()
    if not args.input:
        raise InputError("no INPUT given (files or folders to deblur); see 'xraydeblur deblur --help'")
    if not args.output:
        raise InputError("-o/--output is required (output folder, or output file for one input)")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.device:
        if args.device == "cuda" and not _cuda_available():
            raise InputError("--device cuda: no CUDA GPU is available here (torch.cuda.is_available() is False); use --device cpu")
        os.environ["XRAYDEBLUR_DEVICE"] = args.device
    kernel, _ = kernel_from_args(args)
    method = resolve_method(args.method, kernel_known=kernel is not None)
    jobs, as_dir = plan_jobs(args.input, args.output, args.format)
    manifest = Path(args.manifest) if args.manifest else (Path(args.output) / MANIFEST_NAME if as_dir else None)
    if manifest is not None:
        ensure_not_input(manifest, [job.input for job in jobs])
    refuse_useless_run(jobs)
    check_output_writable(Path(args.output) if as_dir else Path(args.output).parent)
    settings = settings_key(method, kernel, args.format, args.report, args.denoise, args.force)
    completed = {} if args.redo or manifest is None else resume_records(jobs, manifest, settings)

    show = not args.quiet and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        try:
            sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
        except (OSError, ValueError):
            sized = False
        bar = tqdm(total=len(jobs), file=sys.stderr, unit="image", desc=method.name, dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24)
    writer = ManifestWriter(manifest, len(jobs)) if manifest is not None else None
    records = writer.records if writer is not None else [None] * len(jobs)

    def on_record(index, record) -> None:
        if writer is not None:
            writer.add(index, record)
        records[index] = record
        message = None
        if record.status == "failed":
            message = f"xraydeblur: failed: {printable(record.input)}: {record.error}"
        elif record.status == "ok" and record.note and (not args.quiet or SAFEGUARD_FAILED in record.note):
            message = f"xraydeblur: {printable(record.input)}: {record.note}"  # e.g. no blur detected: returned unchanged
        if message is not None:
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(1)

    def stop(in_progress: int | None = None) -> None:
        """Ctrl-C: the in-progress file's temporary files removed, the manifest written
        with what was finished, and one line saying how to resume."""
        if bar is not None:
            bar.close()
        if in_progress is not None:
            remove_partial_outputs(jobs[in_progress].output)
        if writer is not None:
            writer.flush()
        finished = sum(r is not None for r in records)
        how = "run the same command again to resume" if writer is not None else "run the same command again"
        print(f"xraydeblur: interrupted after {finished} of {len(jobs)} files; {how}", file=sys.stderr, flush=True)

    console = Path(sys.argv[0]).stem == "xraydeblur"  # the console script, not main() called from Python
    todo = sum(1 for i, job in enumerate(jobs) if not job.refused and i not in completed)
    previous = None
    if console and (args.workers <= 1 or todo <= 1):
        # one file at a time in this process: Ctrl-C stops at once instead of waiting for
        # the method's tile threads and the interpreter's teardown (1-2 s with torch)
        def stop_now(signum, frame):
            stop(next((i for i, r in enumerate(records) if r is None), None))
            sys.stdout.flush()
            os._exit(130)

        previous = signal.signal(signal.SIGINT, stop_now)
    start = time.perf_counter()
    try:
        run_batch(
            jobs, method=method, kernel=kernel, fmt=args.format, report=args.report, skip_existing=args.skip_existing,
            workers=args.workers, device=args.device, on_record=on_record, completed=completed, settings=settings,
            denoise=args.denoise, force=args.force, safeguard=not args.no_safeguard,
        )
    except KeyboardInterrupt:  # the pool (already stopped), or main() called from Python
        stop()
        if console:  # skip the slow interpreter teardown: everything is written, the workers are gone
            sys.stdout.flush()
            os._exit(130)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    if writer is not None:
        writer.flush()
    counts = summarize(records)
    if not args.quiet:
        where = f" (manifest {printable(manifest)})" if manifest is not None else ""
        print(f"{counts['ok']} done, {counts['skipped']} skipped, {counts['failed']} failed in {elapsed:.1f} s{where}")
    return 1 if counts["failed"] else 0


def refuse_useless_run(jobs) -> None:
    """Refuse (before anything is written) a run in which every file is refused, e.g.
    ``deblur same/ -o same/``: one line with the first file's reason."""
    if jobs and all(job.refused for job in jobs):
        more = f" (and {len(jobs) - 1} more)" if len(jobs) > 1 else ""
        raise InputError(f"nothing to do: {jobs[0].refused}{more}")


def check_output_writable(folder: Path) -> None:
    """Refuse (one line, before any work) an output folder that cannot be created or
    written: a regular file in its path, or no write permission."""
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise InputError(f"cannot write under {printable(folder)}: {printable(existing)} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write under {printable(folder)}: permission denied in {printable(existing)}")
