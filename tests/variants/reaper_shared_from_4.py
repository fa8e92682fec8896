"""An initial constraint that the new VMAs of a schema must meet: VMAs 4 and up are file mappings
(SHARED). The invariant "some VMA is shared" is violated at every size of the grid (K <= 4: all
may start ANON) and holds from K = 5; filling the new VMAs with ANON is no initial state there.
Checked the same way as the parametric engine's init_cap.py, where the replay once skipped it."""
from oomcheck.lang import exists, forall, implies
from oomcheck.models.reaper import VMA, VmaKind

MODEL = "reaper"
BASE = "forward"


def derive(m):
    kind = m.ref("kind")
    m.constrain_init(forall(VMA, lambda v: implies(v >= 4, kind[v] == VmaKind.SHARED)))
    m.invariant("u-some-shared", exists(VMA, lambda v: kind[v] == VmaKind.SHARED), "")
    return m
