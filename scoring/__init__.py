"""georisk's domain library: the arrangement graph, ownership/control analytics and scoring.

Pure Python (pydantic, NetworkX, NumPy/SciPy); it never imports gRPC.
"""

__version__ = "0.1.0"
