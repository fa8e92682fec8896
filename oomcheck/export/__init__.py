"""Back ends that write a model definition in another tool's language (Promela for SPIN).

They read the same Model the engines check, so a second, independent checker can be run on
exactly the transition system oomcheck explores.
"""

from oomcheck.export.promela import PanRun, Promela, to_promela

__all__ = ["PanRun", "Promela", "to_promela"]
