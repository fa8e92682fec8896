"""The OOM victim thaw against the freezer: one process, N threads, thread 0 picked by the OOM killer.

Kernel base: the 6.17 freezer (kernel/freezer.c after the July 2025 `__thaw_task` cleanup: no
WARN on `freezing(p)`, `frozen(p)` tested under `freezer_lock`) and mm/oom_kill.c as of 6.17, with
the 2025 thaw series (zhongjinji, v8 to v10, merged for 6.18-rc1) as knobs and derived variants.

What is abstracted, and why it is sound for the properties checked here:
- `mark_oom_victim`'s test_and_set of TIF_MEMDIE and the cmpxchg of `signal->oom_mm` are one
  step: no freezer check reads both, so no interleaving between them changes a verdict.
- `get_signal`'s `try_to_freeze()` and its SIGNAL_GROUP_EXIT test are folded into the guards of
  two steps (freeze if `freezing()`, else take the fatal path). This is exact because, for a
  thread that is still running, `freezing()` can only go from true to false in this model.
- The PM freezer and the cgroup v1 freezer share the refrigerator and `freezing()`; the knob
  `freezer=refrigerator` stands for both. `freeze_task`'s fake signal is "a running thread reaches
  a freeze point at any time".
- Sleeps other than the freezer's are not modeled at the default knobs; the knobs below add the
  ones that can change a verdict (docs/kernel-background.md §1.5-§1.7, §1.12, §2.3-§2.4, §6):
  `pm_freeze=during` a PM freeze in progress (kernel/power/process.c freeze_processes) that
  freezes TASK_FREEZABLE sleepers in place (kernel/freezer.c freeze_task/__set_task_frozen);
  `external_waker=frozen` a thread in a non-killable sleep whose waker is a frozen task outside
  the group; `mm_sharer=clone_vm` another process sharing the mm (mm/oom_kill.c
  __oom_kill_process, sharer loop); `remark=dying_allocator` a second TIF_MEMDIE thread
  (mm/oom_kill.c out_of_memory -> mark_oom_victim(current)). Each default is today's model.

Kernel code read for the knobs: Kingxukai/linux at 9b44fff6 (6.17-rc3; the stored torvalds/linux
copies are pre-6.1): kernel/freezer.c, kernel/power/process.c, mm/oom_kill.c. The v10 exemption
(tsk_is_oom_victim in freezing_slow_path) is from the merged patch as posted.
"""

from __future__ import annotations

from oomcheck.checker.language.lang import (
    BOOL,
    FALSE,
    TRUE,
    Enum,
    Expr,
    IntType,
    Model,
    Param,
    count,
    forall,
    implies,
    ite,
)

ThreadPC = Enum("thread_pc", [
    "RUNNING",          # user code, or kernel code between freeze points
    "REFRIG_PUBLISH",   # __refrigerator loop top: about to publish TASK_FROZEN
    "REFRIG_CHECK",     # TASK_FROZEN published; re-checks freezing() under freezer_lock next
    "REFRIG_SLEEP",     # freezing() was true: in schedule(), asleep while TASK_FROZEN is set
    "CGROUP2_TRAP",     # do_freezer_trap: TASK_INTERRUPTIBLE|TASK_FREEZABLE sleep (cgroup v2)
    "EXITING",          # do_group_exit -> do_exit, before exit_mm
    "EXIT_OOM_VICTIM",  # exit_mm done (mmput), exit_oom_victim still to run
    "EXITED",           # past exit_mm
])

# With pm_freeze=during or external_waker=frozen the thread has two more places to be. A separate
# enum (same members first) so that the default model is exactly today's.
ThreadPCExt = Enum("thread_pc", (
    *ThreadPC.members,
    "FREEZABLE_SLEEP",  # a TASK_INTERRUPTIBLE/KILLABLE|TASK_FREEZABLE sleep (futex, epoll,
                        # nanosleep, vfork parent): SIGKILL wakes it unless frozen in place
    "UNINT_SLEEP",      # TASK_UNINTERRUPTIBLE, not freezable, waiting on a frozen task outside
                        # the group (FUSE request read by a frozen daemon, lock holder): only the
                        # waker ends it, and it stays frozen
))

SharerPC = Enum("sharer_pc", [
    "RUNNING",   # the other process sharing the mm runs (user code or kernel code)
    "TRAP",      # in the cgroup v2 trap (freezer=cgroup2, no PM freeze): SIGKILL wakes it
    "FROZEN",    # frozen (refrigerator, or in place under a PM freeze): only __thaw_task wakes it
    "EXITED",    # past exit_mm: its mm_users reference is dropped
])

OomPC = Enum("oom_pc", [
    "IDLE",      # out_of_memory has not picked the victim yet
    "MARK",      # SIGKILL sent under task_lock(victim); mark_oom_victim next
    "THAW",      # mark_oom_victim's thaw loop, one thread per step (thawed)
    "DONE",      # atomic_inc(&oom_victims) done, task_unlock(victim)
])

KNOBS: dict[str, tuple[str, ...]] = {
    # which freezer holds the threads
    "freezer": ("refrigerator", "cgroup2"),
    # which threads mark_oom_victim thaws: the victim thread only (<= 6.17) or the group
    "thaw": ("victim", "group"),
    # what freezing_slow_path() exempts: TIF_MEMDIE of that thread (<= 6.17) or
    # tsk_is_oom_victim(), i.e. signal->oom_mm shared by the group (6.18+)
    "exemption": ("memdie", "oom_victim"),
    # a PM freeze (freeze_processes) in progress, freezing TASK_FREEZABLE sleepers in place
    "pm_freeze": ("none", "during"),
    # a thread of the victim in a non-killable sleep whose waker is frozen, outside the group
    "external_waker": ("none", "frozen"),
    # another process sharing the victim's mm (CLONE_VM without CLONE_THREAD, vfork child)
    "mm_sharer": ("none", "clone_vm"),
    # a killed thread that allocates re-enters out_of_memory(): mark_oom_victim(current)
    "remark": ("none", "dying_allocator"),
}
DEFAULT_KNOBS = {"freezer": "refrigerator", "thaw": "victim", "exemption": "memdie",
                 "pm_freeze": "none", "external_waker": "none", "mm_sharer": "none",
                 "remark": "none"}

# What a "holds" of this model rests on, in kernel terms: (knob or None, its default, the other
# setting, the assumption, what the other setting shows). Read by build() into
# m.helpers["assumptions"] (only the knobs left at their default), and printed with a result.
ASSUMPTIONS: list[tuple[str | None, str, str, str, str]] = [
    ("pm_freeze", "none", "during",
     "no PM freeze in progress that froze a TASK_FREEZABLE sleeper in place (freeze_task -> "
     "__set_task_frozen; the cgroup v2 trap, futex/epoll/nanosleep, a vfork parent)",
     "pre with freezer=cgroup2: victim-exits violated (the trapped sibling is TASK_FROZEN and "
     "only __thaw_task wakes it); v10 still holds (SIGKILL recorded in saved_state, "
     "thaw_process wakes it), but v10 violates exempt-covered-by-oom-victims (oom_victims "
     "reaches 0 while an exempt sibling still holds the mm)"),
    ("external_waker", "none", "frozen",
     "no thread of the victim in a non-killable sleep whose waker is a frozen task outside the "
     "thread group (FUSE request read by a frozen daemon, a lock holder): SIGKILL does not "
     "wake it and thaw_process does not thaw the waker",
     "victim-exits and no-deadlock violated in every variant, v10 included"),
    ("mm_sharer", "none", "clone_vm",
     "no other process shares the mm (CLONE_VM without CLONE_THREAD, vfork child): the sharer "
     "loop of __oom_kill_process kills it but mark_oom_victim neither marks nor thaws it",
     "mm-released violated (a frozen sharer keeps mm_users, exit_mmap never runs); "
     "victim-exits still holds"),
    ("remark", "none", "dying_allocator",
     "no killed thread re-enters out_of_memory() while allocating (task_will_free_mem(current) "
     "-> mark_oom_victim(current) sets a second TIF_MEMDIE)",
     "memdie-single-thread violated; oom_victims still counts every TIF_MEMDIE thread"),
    (None, "", "",
     "weak fairness on every step: a step that stays enabled is eventually taken (the "
     "scheduler runs every runnable thread)",
     "without it a runnable thread may never run: victim-exits is not provable"),
    (None, "", "",
     "interleaving semantics: each step is atomic under the lock its description names "
     "(freezer_lock, pi_lock, siglock, task_lock, oom_lock); no weak-memory reordering beyond "
     "them and the cmpxchg's full barrier",
     "not checked by this model"),
]


def assumptions_for(knobs: dict[str, str]) -> list[dict[str, str]]:
    """The assumptions a result of this model rests on with these knobs (see ASSUMPTIONS)."""
    out = []
    for knob, default, other, text, shows in ASSUMPTIONS:
        if knob is not None and knobs.get(knob, default) != default:
            continue  # this model instance does not assume it: it models the other setting
        entry = {"assumption": text, "otherwise": shows}
        if knob is not None:
            entry["knob"] = f"{knob}={other}"
        out.append(entry)
    return out
SIZES = {"threads": (3, 2, 12)}  # default, min, max (12: under a minute with symmetry and the native core)

THREAD = "thread"


def thaw_done(m: Model) -> Expr:
    """The thaw loop has visited every thread (for_each_thread has ended)."""
    thawed = m.ref("thawed")
    return forall(THREAD, lambda t: thawed[t])  # type: ignore[index]


def build(sizes: dict[str, int], knobs: dict[str, str]) -> Model:
    n = sizes["threads"]
    m = Model("freezer", sizes={"threads": n}, knobs=dict(knobs))
    m.domain(THREAD, n)
    m.actor(THREAD, "thread")
    m.actor("oom", "OOM killer")
    knobs = {**DEFAULT_KNOBS, **knobs}
    refrigerator = knobs["freezer"] == "refrigerator"
    pm = knobs["pm_freeze"] == "during"
    ext = knobs["external_waker"] == "frozen"
    sharer = knobs["mm_sharer"] == "clone_vm"
    remark = knobs["remark"] == "dying_allocator"
    PC = ThreadPCExt if (pm or ext) else ThreadPC  # noqa: N806 - an enum, read as a type
    # a freezing() condition is in effect: the refrigerator knob (PM or cgroup v1), or a PM freeze
    freeze_on = refrigerator or pm
    # the TASK_FREEZABLE sleep a PM freeze can freeze in place: the v2 trap, or a syscall sleep
    sleep_pc = PC.CGROUP2_TRAP if not refrigerator else (PC.FREEZABLE_SLEEP if pm else None)

    init_pc = [PC.RUNNING, PC.REFRIG_SLEEP if refrigerator else PC.CGROUP2_TRAP]
    if pm:
        init_pc = [PC.RUNNING, PC.REFRIG_SLEEP, sleep_pc]
    if ext:
        init_pc.append(PC.UNINT_SLEEP)
    pc = m.array("pc", THREAD, PC, init=tuple(init_pc), doc="where the thread is (see ThreadPC)")
    frozen = m.array("frozen", THREAD, BOOL, init=(0, 1),
                     doc="TASK_FROZEN in __state (kernel/freezer.c frozen())")
    sigkill = m.array("sigkill", THREAD, BOOL, init=0, doc="SIGKILL pending")
    memdie = m.array("memdie", THREAD, BOOL, init=0, doc="TIF_MEMDIE")
    group_exit = m.var("group_exit", BOOL, init=0, doc="signal->flags has SIGNAL_GROUP_EXIT")
    oom_mm = m.var("oom_mm", BOOL, init=0, doc="signal->oom_mm set: tsk_is_oom_victim()")
    oom_victims = m.var("oom_victims", IntType(-n, n), init=0, doc="the oom_victims counter")
    oom_pc = m.var("oom_pc", OomPC, init=OomPC.IDLE, doc="where the OOM killer is")
    thawed = m.array("thawed", THREAD, BOOL, init=0,
                     doc="mark_oom_victim's thaw loop has visited the thread")

    def in_sleep(t: Param | int) -> Expr:
        """Asleep in the TASK_FREEZABLE sleep that SIGKILL wakes (v2 trap or syscall sleep)."""
        return pc[t] == sleep_pc if sleep_pc is not None else FALSE

    if pm:
        saved = m.array("saved", THREAD, BOOL, init=(0, 1),
                        doc="saved_state holds a sleep state (not TASK_RUNNING): the thread was "
                            "frozen in place and its wakeup has not come (kernel/freezer.c "
                            "__set_task_frozen)")
        # frozen in place out of the freezable sleep (saved_state = that sleep), or asleep in
        # __refrigerator (saved_state = TASK_RUNNING); a freezable sleeper may not be frozen yet
        m.constrain_init(forall(THREAD, lambda t: implies(pc[t] == PC.REFRIG_SLEEP, frozen[t])
                                & implies(frozen[t], (pc[t] == PC.REFRIG_SLEEP) | in_sleep(t))
                                & (saved[t] == (frozen[t] & in_sleep(t)))))
    else:
        m.constrain_init(forall(THREAD, lambda t: frozen[t] == (pc[t] == PC.REFRIG_SLEEP)))

    def exempt(t: Param | int) -> Expr:
        """The OOM exemption of freezing_slow_path(): TIF_MEMDIE (<= 6.17) or oom_mm (6.18+)."""
        return memdie[t] if knobs["exemption"] == "memdie" else oom_mm

    def freezing(t: Param | int) -> Expr:
        """kernel/freezer.c freezing_slow_path(): the OOM exemption comes before the freezing
        conditions; the cgroup v2 freezer is not a freezing() condition at all, pm_freezing is."""
        if not freeze_on:
            return FALSE
        return ~exempt(t)

    m.helpers["freezing"] = freezing
    m.helpers["assumptions"] = lambda: assumptions_for(knobs)
    victim_only = knobs["thaw"] == "victim"
    holds_task_lock = (oom_pc != OomPC.IDLE) & (oom_pc != OomPC.DONE)

    # ---- the OOM killer -----------------------------------------------------------------
    if pm:
        # signal_wake_up_state -> ttwu_state_match (kernel/sched/core.c): a sleeper frozen in
        # place has its wakeup recorded (saved_state = TASK_RUNNING), no real wakeup
        kill_each = (THREAD, lambda t: {
            sigkill[t]: 1,
            pc[t]: ite(in_sleep(t) & ~frozen[t], PC.RUNNING, pc[t]),
            saved[t]: 0,
        })
        kill_step = ("; a sleeper frozen in place is not woken: ttwu_state_match records the "
                     "wakeup in saved_state (kernel/sched/core.c)")
    else:
        kill_each = (THREAD, lambda t: {
            sigkill[t]: 1,
            pc[t]: ite(pc[t] == PC.CGROUP2_TRAP, PC.RUNNING, pc[t]),
        })
        kill_step = ""
    m.action(
        "oom_kill", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
        step="find_lock_task_mm(victim), then SIGKILL to the thread group: complete_signal sets "
             "SIGNAL_GROUP_EXIT and SIGKILL on each thread, signal_wake_up(t, fatal) wakes "
             "TASK_INTERRUPTIBLE/WAKEKILL sleepers but never TASK_FROZEN" + kill_step,
        guard=oom_pc == OomPC.IDLE,
        updates={oom_pc: OomPC.MARK, group_exit: 1},
        each=kill_each,
    )
    m.action(
        "mark_oom_victim", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="test_and_set TIF_MEMDIE on the victim thread; cmpxchg signal->oom_mm",
        guard=oom_pc == OomPC.MARK,
        updates={memdie[0]: 1, oom_mm: 1, oom_pc: OomPC.THAW},
    )
    thaw_step = ("the victim thread only" if victim_only else
                 "thaw_process: for_each_thread, in list order (any order here: the victim "
                 "thread is anywhere in the list)") \
        + "; under freezer_lock: if frozen(t), wake it (TASK_FROZEN cleared)"
    if pm:
        thaw_step += ("; a thread frozen in place: __restore_freezer_state puts it back to sleep "
                      "if saved_state is a sleep, else wake_up_state(t, TASK_FROZEN) runs it")

        def thaw_updates(t: Param) -> dict:
            return {frozen[t]: 0, thawed[t]: 1, saved[t]: 0,
                    pc[t]: ite(frozen[t] & in_sleep(t) & ~saved[t], PC.RUNNING, pc[t])}
    else:
        def thaw_updates(t: Param) -> dict:
            return {frozen[t]: 0, thawed[t]: 1}
    m.action(
        "thaw", func="__thaw_task", file="kernel/freezer.c", actor="oom",
        params={"t": THREAD},
        step=thaw_step,
        guard=lambda t: (oom_pc == OomPC.THAW) & ~thawed[t] & ((t == 0) if victim_only else True),
        updates=thaw_updates,
    )
    m.action(
        "oom_victims_inc", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="atomic_inc(&oom_victims); __oom_kill_process then does task_unlock(victim)",
        guard=(oom_pc == OomPC.THAW) & (thawed[0] if victim_only else thaw_done(m)),
        updates={oom_victims: oom_victims + 1, oom_pc: OomPC.DONE},
    )

    # ---- the PM freezer -------------------------------------------------------------------
    if pm and sleep_pc is not None:
        m.actor("pm", "PM freezer")
        m.action(
            "freeze_in_place", func="freeze_task", file="kernel/freezer.c", actor="pm",
            params={"t": THREAD},
            step="try_to_freeze_tasks (kernel/power/process.c) calls freeze_task on each thread: "
                 "under freezer_lock, if freezing(t) and t sleeps TASK_FREEZABLE, "
                 "__set_task_frozen: saved_state = the sleep, __state = TASK_FROZEN",
            guard=lambda t: in_sleep(t) & ~frozen[t] & freezing(t),
            updates=lambda t: {frozen[t]: 1, saved[t]: 1},
        )

    # ---- each thread of the victim --------------------------------------------------------
    m.action(
        "try_to_freeze", func="try_to_freeze", file="include/linux/freezer.h",
        actor=THREAD, params={"t": THREAD},
        step="a freeze point (get_signal calls it before the SIGNAL_GROUP_EXIT test): "
             "freezing(current) is true, enter __refrigerator",
        guard=lambda t: (pc[t] == PC.RUNNING) & freezing(t),
        updates=lambda t: {pc[t]: PC.REFRIG_PUBLISH},
    )
    m.action(
        "refrigerator_publish", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="under pi_lock: __state = TASK_FROZEN, saved_state = TASK_RUNNING",
        guard=lambda t: pc[t] == PC.REFRIG_PUBLISH,
        updates=lambda t: {frozen[t]: 1, pc[t]: PC.REFRIG_CHECK},
    )
    m.action(
        "refrigerator_recheck", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="under freezer_lock: freeze = freezing(current); if false leave the loop "
             "(__state = TASK_RUNNING), else schedule()",
        guard=lambda t: pc[t] == PC.REFRIG_CHECK,
        updates=lambda t: {
            pc[t]: ite(freezing(t), PC.REFRIG_SLEEP, PC.RUNNING),
            frozen[t]: ite(freezing(t), frozen[t], 0),
        },
    )
    m.action(
        "refrigerator_wakeup", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="schedule() returns once a wakeup cleared TASK_FROZEN (only __thaw_task does); "
             "loop again",
        guard=lambda t: (pc[t] == PC.REFRIG_SLEEP) & ~frozen[t],
        updates=lambda t: {pc[t]: PC.REFRIG_PUBLISH},
    )
    if not refrigerator:
        m.action(
            "do_freezer_trap", func="do_freezer_trap", file="kernel/signal.c",
            actor=THREAD, params={"t": THREAD},
            step="cgroup v2 freeze trap from get_signal (no SIGNAL_GROUP_EXIT yet): sleep "
                 "TASK_INTERRUPTIBLE|TASK_FREEZABLE, which SIGKILL wakes",
            guard=lambda t: (pc[t] == PC.RUNNING) & ~group_exit,
            updates=lambda t: {pc[t]: PC.CGROUP2_TRAP},
        )
    m.action(
        "get_signal_fatal", func="get_signal", file="kernel/signal.c",
        actor=THREAD, params={"t": THREAD},
        step="try_to_freeze() found freezing() false; SIGNAL_GROUP_EXIT: fatal, "
             "do_group_exit() -> do_exit()",
        guard=lambda t: (pc[t] == PC.RUNNING) & sigkill[t] & ~freezing(t),
        updates=lambda t: {pc[t]: PC.EXITING},
    )
    m.action(
        "exit_mm", func="exit_mm", file="kernel/exit.c", actor=THREAD, params={"t": THREAD},
        step="task_lock(current) (held by the OOM killer on the victim until mark_oom_victim "
             "returns); current->mm = NULL; mmput()",
        guard=lambda t: (pc[t] == PC.EXITING) & ~((t == 0) & holds_task_lock),
        updates=lambda t: {
            pc[t]: ite(memdie[t], PC.EXIT_OOM_VICTIM, PC.EXITED),
        },
    )
    m.action(
        "exit_oom_victim", func="exit_oom_victim", file="mm/oom_kill.c",
        actor=THREAD, params={"t": THREAD},
        step="exit_mm saw TIF_MEMDIE: clear it; atomic_dec_return(&oom_victims)",
        guard=lambda t: pc[t] == PC.EXIT_OOM_VICTIM,
        updates=lambda t: {memdie[t]: 0, oom_victims: oom_victims - 1, pc[t]: PC.EXITED},
    )
    if remark:
        m.action(
            "out_of_memory_current", func="out_of_memory", file="mm/oom_kill.c",
            actor=THREAD, params={"t": THREAD},
            step="a killed thread still holding the mm allocates and the allocation fails: under "
                 "oom_lock, task_will_free_mem(current) (SIGNAL_GROUP_EXIT) -> "
                 "mark_oom_victim(current): test_and_set TIF_MEMDIE, cmpxchg oom_mm (already "
                 "set), thaw (nothing frozen: current runs), atomic_inc(&oom_victims)",
            guard=lambda t: (oom_pc == OomPC.DONE) & group_exit & ~memdie[t]
            & ((pc[t] == PC.RUNNING) | (pc[t] == PC.EXITING)),
            updates=lambda t: {memdie[t]: 1, oom_victims: oom_victims + 1},
        )

    # ---- another process sharing the mm ---------------------------------------------------
    sharer_gone: Expr = TRUE
    if sharer:
        m.actor("sharer", "mm sharer")
        sh_init = (SharerPC.RUNNING, SharerPC.FROZEN if freeze_on else SharerPC.TRAP)
        sh_pc = m.var("sh_pc", SharerPC, init=sh_init,
                      doc="the other process sharing the mm (its own signal_struct: no oom_mm)")
        sh_kill = m.var("sh_kill", BOOL, init=0, doc="SIGKILL pending on the sharer")
        m.action(
            "kill_sharer", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
            step="after task_unlock(victim), under RCU: for_each_process sharing the mm outside "
                 "the thread group: SIGKILL to its group; no mark_oom_victim, no thaw",
            guard=(oom_pc == OomPC.DONE) & ~sh_kill,
            updates={sh_kill: 1, sh_pc: ite(sh_pc == SharerPC.TRAP, SharerPC.RUNNING, sh_pc)},
        )
        if freeze_on:
            m.action(
                "sharer_freeze", func="__refrigerator", file="kernel/freezer.c", actor="sharer",
                step="the sharer reaches a freeze point (get_signal's try_to_freeze comes before "
                     "the fatal test): freezing() is true, nothing exempts it; asleep in "
                     "__refrigerator until a thaw that never comes",
                guard=sh_pc == SharerPC.RUNNING,
                updates={sh_pc: SharerPC.FROZEN},
            )
        else:
            m.action(
                "sharer_trap", func="do_freezer_trap", file="kernel/signal.c", actor="sharer",
                step="cgroup v2 freeze trap (no SIGKILL yet): TASK_INTERRUPTIBLE|TASK_FREEZABLE",
                guard=(sh_pc == SharerPC.RUNNING) & ~sh_kill,
                updates={sh_pc: SharerPC.TRAP},
            )
            m.action(
                "sharer_exit", func="do_exit", file="kernel/exit.c", actor="sharer",
                step="get_signal takes the fatal path, do_group_exit -> exit_mm -> mmput: the "
                     "sharer's mm_users reference is dropped",
                guard=(sh_pc == SharerPC.RUNNING) & sh_kill,
                updates={sh_pc: SharerPC.EXITED},
            )
        sharer_gone = sh_pc == SharerPC.EXITED

    all_exited = forall(THREAD, lambda t: pc[t] == PC.EXITED)
    m.set_final(all_exited & (oom_pc == OomPC.DONE))

    # ---- properties ---------------------------------------------------------------------
    m.leads_to(
        "victim-exits", group_exit, all_exited,
        "once the OOM killer has sent SIGKILL, every thread of the victim eventually exits "
        "(weak fairness on every step)",
    )
    m.no_deadlock("no-deadlock", "some step is enabled until every thread has exited")
    m.invariant(
        "oom-victims-balance",
        (oom_victims >= 0) & implies(all_exited & (oom_pc == OomPC.DONE), oom_victims == 0),
        "oom_victims never goes negative, and is back to 0 once the victim has exited",
    )
    m.invariant(
        "oom-victims-counts-memdie",
        implies(oom_pc == OomPC.DONE,
                oom_victims == count(THREAD, lambda t: memdie[t])),
        "after mark_oom_victim, oom_victims equals the number of threads holding TIF_MEMDIE "
        "that have not yet run exit_oom_victim (what oom_killer_disable waits on)",
    )
    m.invariant(
        "memdie-single-thread",
        count(THREAD, lambda t: memdie[t]) <= 1,
        "design intent, not a kernel invariant: only the thread the OOM killer picked has "
        "TIF_MEMDIE. A killed thread that allocates may call out_of_memory() -> "
        "mark_oom_victim(current) and get a second one (knob remark=dying_allocator), as may "
        "memory.oom.group; what oom_killer_disable needs is oom-victims-counts-memdie",
    )

    def asleep_frozen(t: Param) -> Expr:
        """TASK_FROZEN and asleep: in __refrigerator, or frozen in place out of a sleep."""
        e = (pc[t] == PC.REFRIG_SLEEP) & frozen[t]
        return e | (in_sleep(t) & frozen[t]) if pm else e

    m.invariant(
        "no-frozen-after-thaw",
        implies(oom_pc == OomPC.DONE, forall(THREAD, lambda t: ~asleep_frozen(t))),
        "once mark_oom_victim has returned, no thread of the victim sleeps frozen (in the "
        "refrigerator, or frozen in place)",
    )
    m.invariant(
        "no-lost-thaw",
        implies(oom_pc == OomPC.DONE,
                forall(THREAD, lambda t: implies(asleep_frozen(t), freezing(t)))),
        "once mark_oom_victim has returned, a thread asleep frozen is one the freezer still "
        "wants frozen: none is exempt yet asleep with no thaw to come",
    )
    frozen_where = (lambda t: (pc[t] == PC.REFRIG_CHECK) | (pc[t] == PC.REFRIG_SLEEP)
                    | in_sleep(t)) if pm else \
        (lambda t: (pc[t] == PC.REFRIG_CHECK) | (pc[t] == PC.REFRIG_SLEEP))
    m.invariant(
        "frozen-only-in-refrigerator",
        forall(THREAD, lambda t: implies(frozen[t], frozen_where(t))),
        "TASK_FROZEN is set only inside __refrigerator, or (PM freeze) on a thread frozen in "
        "place out of a TASK_FREEZABLE sleep (a sanity check of the model)",
    )
    if pm:
        covered = implies(((oom_pc == OomPC.IDLE) | (oom_pc == OomPC.DONE)) & (oom_victims <= 0),
                          forall(THREAD, lambda t: implies(exempt(t), pc[t] == PC.EXITED)))
    else:
        covered = TRUE
    m.invariant(
        "exempt-covered-by-oom-victims",
        covered,
        "while a PM freeze is in progress (pm_freeze=during; vacuous otherwise): when oom_victims "
        "is 0 and oom_lock is free (what oom_killer_disable waits for after try_to_freeze_tasks, "
        "kernel/power/process.c freeze_processes), no thread that freezing_slow_path() exempts "
        "(and try_to_freeze_tasks so skips) still holds the mm (is before exit_mm)",
    )
    m.leads_to(
        "mm-released", group_exit, all_exited & sharer_gone,
        "once the OOM killer has sent SIGKILL, every thread of the victim and every other "
        "process sharing its mm eventually exits: every mm_users reference held by a task is "
        "dropped, so exit_mmap can run (with no sharer this is victim-exits)",
    )
    return m
