"""The version of nnlab, in one place: ``nnlab.__version__``, the run format (``runs.py``) and the ONNX
exporter's model properties all read it from here (a module that imports nothing, so any layer may)."""

__all__ = ["__version__"]

__version__ = "0.2.0"
