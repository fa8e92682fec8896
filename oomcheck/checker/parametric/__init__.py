"""Proofs for every thread count.

Counter abstraction, Houdini invariants, ranking functions and generalised counterexamples.
"""
