"""Derived DICOM output by copy-and-modify of the source header.

The result keeps patient and study, gets a new SOP Instance UID and Series Instance
UID, ImageType DERIVED\\SECONDARY, a DerivationDescription naming method, model version
and weights hash, a SourceImageSequence pointing at the source, the source's BitsStored
and photometric interpretation, and the lossless Explicit VR Little Endian transfer
syntax.
"""

import copy
import datetime as _dt
import io as _io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from .. import __version__
from .dicom_read import unit_to_stored
from .radiograph import Radiograph

# Elements that describe the old pixel values (or how the source was derived) and
# would be wrong for the new image.
_STALE = ("SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingRangeLimit", "DerivationCodeSequence")


def image_type_values(value) -> list[str]:
    """The values of a source's ImageType (0008,0008) whatever form it was read in.

    A multi-valued element gives its values; a single string is split on the DICOM
    value separator ``\\``; an ACR-NEMA style single value with the words separated by
    spaces ("ORIGINAL PRIMARY") is split on the spaces. Values are stripped; None or an
    empty element gives [].
    """
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        values = value.split("\\")
        words = values[0].split()
        if len(values) == 1 and len(words) > 1 and words[0].upper() in ("ORIGINAL", "DERIVED"):
            values = words
    else:
        values = [str(v) for v in value]
    return [v.strip() for v in values]


def derived_image_type(source_values: list[str]) -> list[str]:
    """ImageType of the derived image: DERIVED\\SECONDARY, then the source's values 3
    onwards (e.g. the anatomy or processing words), without trailing empty values."""
    rest = list(source_values[2:])
    while rest and not rest[-1]:
        rest.pop()
    return ["DERIVED", "SECONDARY", *rest]


def derived_dataset(
    source: Radiograph,
    pixels: np.ndarray,
    *,
    method: str,
    model_version: str = "",
    weights_sha256: str = "",
    synthetic: bool = False,
) -> Dataset:
    """Build the derived dataset (header + new pixel data) without encoding it.

    ``synthetic``: the pixels are a synthetic degradation (``xraydeblur blur``), not a
    deblurred result; DerivationDescription and SeriesDescription say so."""
    if source.format != "dicom" or source.dataset is None:
        raise ValueError("DICOM output needs a DICOM source (copy-and-modify of its header)")
    src = source.dataset
    info = source.info
    ds = copy.deepcopy(src)
    bits_allocated = int(info.get("bits_allocated", 16))
    bits = source.bits_stored
    signed = bool(info.get("signed", False))
    stored = unit_to_stored(pixels, bits, signed, bool(info.get("inverted", False)))
    dtype = np.uint8 if bits_allocated == 8 else (np.int16 if signed else np.uint16)

    now = _dt.datetime.now()
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.ImageType = derived_image_type(image_type_values(src.get("ImageType")))
    action = "Synthetic degradation" if synthetic else "Deblurred"
    parts = [f"{action} by xraydeblur {__version__}", f"{'degradation' if synthetic else 'method'} {method}"]
    if model_version:
        parts.append(f"model {model_version}")
    if weights_sha256:
        parts.append(f"weights sha256 {weights_sha256}")
    ds.DerivationDescription = "; ".join(parts)[:1024]
    if "SOPClassUID" in src and "SOPInstanceUID" in src:
        ref = Dataset()
        ref.ReferencedSOPClassUID = src.SOPClassUID
        ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = [ref]
    description = str(src.get("SeriesDescription", "") or "").strip()
    label = "blurred (synthetic)" if synthetic else "deblurred"
    ds.SeriesDescription = (f"{description[:64 - len(label) - 1]} {label}" if description else label)
    ds.InstanceCreationDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = ds.ContentTime = now.strftime("%H%M%S")
    for keyword in _STALE:
        if keyword in ds:
            delattr(ds, keyword)

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = source.photometric
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.add_new(0x7FE00010, "OB" if bits_allocated == 8 else "OW", stored.astype(dtype).tobytes())

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
    return ds


def encode_derived_dicom(source: Radiograph, pixels: np.ndarray, **kwargs) -> bytes:
    """Derived DICOM file (Part 10, explicit VR little endian) as bytes."""
    ds = derived_dataset(source, pixels, **kwargs)
    buf = _io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return buf.getvalue()
