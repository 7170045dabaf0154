"""The package's version, in a module of its own: the layers that write it
(export's requirements, the report's footer) import it without importing the
package's public surface."""

__version__ = '0.1.0'
