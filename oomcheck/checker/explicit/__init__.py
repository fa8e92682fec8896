"""Explicit-state search: BFS safety, fair-cycle liveness, symmetry reduction, the native C core."""
