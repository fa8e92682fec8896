"""The language's rule that one step writes each state slot at most once.

Updates are simultaneous, so two writes of one slot in a step have no meaning: engines that let
the last one win (the Z3 encodings, the interpreter) and the compiler, which refused, answered
differently on the same model. The rule is checked where a model becomes action instances, so
every engine that runs a model at a size refuses it with the same line."""

from __future__ import annotations

from oomcheck.checker.language.lang import ActionInstance, Const, Index, Model, ModelError, Op, Var

_ANY = object()  # an index that reads the state: it may be any element


def _fold(e: object) -> int | None:
    """The value of an index that reads no state (instances have their parameters bound)."""
    from oomcheck.checker.language.compile import const_value

    return const_value(e, {}) if isinstance(e, (Const, Op)) else None  # type: ignore[arg-type]


def check_instance(model: Model, inst: ActionInstance) -> None:
    """Refuse an instance that writes one slot twice, or writes an array at an index that reads
    the state together with any other element of that array (they may be the same slot)."""
    seen: dict[str, set[object]] = {}
    for lhs, _ in inst.updates:
        if isinstance(lhs, Var):
            name, key = lhs.name, None
        elif isinstance(lhs, Index):
            name = lhs.array
            i = _fold(lhs.index)
            key = _ANY if i is None else i
        else:  # pragma: no cover - the builder only makes Var and Index targets
            raise ModelError(f"action {inst.action.name}: cannot assign {lhs!r}")
        keys = seen.setdefault(name, set())
        if key in keys:
            what = name if key is None or key is _ANY else model.slot_name(name, key)  # type: ignore[arg-type]
            verb = "may assign" if key is _ANY else "assigns"
            raise ModelError(f"action {inst.action.name} {verb} {what} twice (in {inst.label})")
        if keys and (key is _ANY or _ANY in keys):
            raise ModelError(f"action {inst.action.name} may assign {name} twice (in {inst.label}: "
                             "an index that reads the state may be the other one)")
        keys.add(key)
