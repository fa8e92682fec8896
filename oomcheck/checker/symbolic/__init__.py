"""Z3 engines over the unrolled model: bounded model checking, k-induction and CHC (Spacer)."""
