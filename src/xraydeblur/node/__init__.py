"""``xraydeblur node``: a DICOM node between the PACS and the deblurring methods.

It receives radiographs by C-STORE (DX, CR, Secondary Capture), deblurs each one in a
worker from a bounded in-memory queue, and sends the derived image back by C-STORE
and/or DICOMweb STOW-RS. One module per job:

* :mod:`.config` - YAML file + command line -> :class:`~.config.NodeConfig`
* :mod:`.scp` - allow-list, accepted SOP classes and transfer syntaxes, C-STORE answers
* :mod:`.worker` - deblur one image (:func:`~.worker.deblur_radiograph`)
* :mod:`.forward` - C-STORE SCU / STOW-RS with retries and back-off
* :mod:`.service` - the queue, the workers and the drain on shutdown
* :mod:`.http` - ``/healthz`` and ``/status``
* :mod:`.stats` - counters and the one-JSON-line-per-image log

See docs/node.md.
"""

from .config import NodeConfig, build_config

__all__ = ["Node", "NodeConfig", "build_config"]


def __getattr__(name: str):
    # the service (pydicom, pynetdicom) is imported when a node starts, not when the
    # command line is built for another subcommand
    if name == "Node":
        from .service import Node

        return Node
    raise AttributeError(name)
