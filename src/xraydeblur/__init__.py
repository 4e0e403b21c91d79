"""xraydeblur: deblurring of X-ray radiographs.

Conventions used everywhere in the package:

* an image is a ``numpy.ndarray`` of ``float32``, shape ``(H, W)``, values in
  ``[0, 1]``, where 1.0 is the most attenuating tissue (bright on a standard
  MONOCHROME2 display);
* blur kernels (point spread functions) are 2-D ``float64`` arrays of odd size that
  sum to 1; sizes and blur widths are in pixels of the image they act on.
"""

__version__ = "0.1.0"
