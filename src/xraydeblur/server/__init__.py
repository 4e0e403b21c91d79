"""REST API and web page for deblurring radiographs (``xraydeblur serve``).

>>> from xraydeblur.server import create_app   # doctest: +SKIP
>>> app = create_app(max_concurrent=1)          # doctest: +SKIP
"""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
