"""edge-slr: real-time isolated sign-language recognition for edge devices."""

__version__ = "0.1.0"
