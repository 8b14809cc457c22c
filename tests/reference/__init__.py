"""Independent reference implementations, used only by the tests.

Nothing here imports :mod:`brainfeat`: each module is written from the published
definition (Caffe prototxt, Pillow's resampling code) so that the package is checked
against something other than itself.
"""
