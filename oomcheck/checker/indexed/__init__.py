"""Proofs for every number of ordered indices (VMAs, PTEs per table): a template read off the
model, quantified inductive invariants checked by Z3, violations replayed for every size."""
