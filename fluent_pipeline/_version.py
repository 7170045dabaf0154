"""The package's version, in a module of its own, at the bottom layer: the
layers that write it (export's requirements, the report's footer) may import
it, where importing it from the package's __init__ would import upwards."""

__version__ = '0.1.0'
