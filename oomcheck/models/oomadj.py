"""oom_score_adj kept equal across processes that share an mm: `__set_oom_adj` against clone().

Kernel base: fs/proc/base.c `__set_oom_adj` and kernel/fork.c `copy_process` / `kernel_clone` /
`copy_oom_score_adj` as merged for 5.10 (Suren Baghdasaryan, "mm, oom_adj: don't loop through
tasks in __set_oom_adj when not necessary", v3) and unchanged in substance since (read in a 6.x
copy of both files). The knobs give the forms before 5.10 (commit 44a70adec910: walk when
mm_users > 1), v1 of the patch (flag and re-copy in copy_mm), and hypothetical forms without the
re-copy or without the mutex; `oom_kill` adds the OOM killer's sharer loop of `__oom_kill_process`
(mm/oom_kill.c), as it is and as Michal Hocko sketched it in his ack of v2 (walk only when the
flag is set).

Tasks: task 0 is the parent, which exists from the start; tasks 1.. are its children, cloned
one at a time in index order (the parent is one thread running copy_process), each with
clone(CLONE_VM) or vfork() (CLONE_VM|CLONE_VFORK). A child is inserted at the tail of the task
list, so the list order is the index order and an RCU walk whose cursor has passed a slot misses
a child linked there later. All tasks share the parent's mm (a child without CLONE_VM has its own
mm and takes no part in any property, so fork() is left out).

What is abstracted, and why:
- Threads are not modeled: they share `signal` (so `oom_score_adj`) and never need the walk.
- `oom_score_adj_min` follows `oom_score_adj` everywhere the kernel writes them together.
- Each locked section is one step; `__set_oom_adj`'s walk is one step per task (RCU, task_lock
  of that task), so clone steps interleave with it.
- Exit (knob `exit`, default none): with `may_exit`, the parent (not while it clones or waits
  for a vfork child) and a finished clone(CLONE_VM) child may run exit_mm (kernel/exit.c): under
  task_lock it sets task->mm = NULL, then mmput drops its mm_users reference. mm_users is the
  number of tasks past copy_mm that have not exited; mm_count is 1 while mm_users > 0 plus one
  per mmgrab held by a writer, so the mm is freed (__mmput -> exit_mmap, then the last mmdrop
  -> __mmdrop) exactly when both are gone. Once freed it stays freed: nobody can mmget it again
  (only the parent clones, and it cannot after its own exit). exit_mm's lazy-TLB mm_count
  reference (mmgrab_lazy_tlb, dropped at the task's last context switch) only delays the free
  and is folded into the exit step. vfork children do not exit (that would complete vfork_done
  and wake the parent, which this model keeps blocked). `exit` is not combined with `oom_kill`:
  __oom_kill_process takes its own mmgrab before its sharer loop ("Get a reference to safely
  compare mm after task_unlock(victim)", mm/oom_kill.c) and drops it after the loop, so that
  loop never compares a freed mm; modeling it adds a counter and no verdict.
- `pin` (default mmgrab): whether `__set_oom_adj` pins the mm it will walk with mmgrab under
  task_lock (and mmdrop after the walk), as every kernel since 44a70adec910 does, or keeps a
  bare pointer across task_unlock (hypothetical bug).
- A vfork parent stays blocked in wait_for_vfork_done (the child never execs or exits), so it
  clones nothing more.
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
    ModelError,
    Param,
    exists,
    forall,
    implies,
    ite,
)

Stage = Enum("stage", [
    "UNBORN",    # not created (a slot for a future child)
    "SIGNAL",    # copy_process: copy_signal done (oom_score_adj copied from the parent)
    "MM",        # copy_mm done: shares the parent's mm (mmget: mm_users + 1)
    "LINKED",    # on the task list and in /proc; copy_oom_score_adj still to run
    "RETURNED",  # copy_process returned; kernel_clone sets vfork_done next (vfork)
    "DONE",      # kernel_clone: vfork_done set (vfork), wake_up_new_task
    "ABORTED",   # copy_process saw fatal_signal_pending(current) before linking: -EINTR
])

Kind = Enum("kind", [
    "PARENT",    # task 0
    "CLONE_VM",  # clone(CLONE_VM), without CLONE_THREAD or CLONE_VFORK
    "VFORK",     # vfork(): CLONE_VM|CLONE_VFORK
])

WriterPC = Enum("writer_pc", [
    "IDLE",     # has not written yet
    "LOCKED",   # get_proc_task(target), mutex_lock(&oom_adj_mutex)
    "DECIDED",  # knows whether it will walk the task list
    "WALK",     # target's value written; walking the task list (cursor)
    "DONE",     # mutex_unlock(&oom_adj_mutex)
])

OomPC = Enum("oom_pc", [
    "IDLE",     # no victim yet
    "KILLED",   # SIGKILL sent to the victim
    "WALK",     # walking the task list for processes sharing the victim's mm
    "DONE",     # wake_oom_reaper(victim): the mm goes to the OOM reaper
])

KNOBS: dict[str, tuple[str, ...]] = {
    # what __set_oom_adj tests to decide whether to walk the task list
    "walk_test": ("flag", "mm_users"),
    # where clone sets the flag (and re-copies the value, if recopy=yes): at the end of
    # copy_process (copy_oom_score_adj, 5.10+), in copy_mm (v1), or nowhere (before 5.10)
    "flag_at": ("copy_oom_score_adj", "copy_mm", "none"),
    # whether that section takes oom_adj_mutex
    "flag_lock": ("mutex", "none"),
    # whether that section re-copies the parent's oom_score_adj into the child
    "recopy": ("yes", "no"),
    # which clones set the flag: CLONE_VM without CLONE_THREAD/CLONE_VFORK (5.10+) or CLONE_VM
    # without CLONE_SIGHAND, which includes vfork (v1)
    "flag_cond": ("vm-only", "no-sighand"),
    # the OOM killer: absent, __oom_kill_process's sharer loop as merged (always walks), or
    # Michal Hocko's sketch in his ack of v2 (walks only when the flag is set)
    "oom_kill": ("none", "loop", "flag"),
    # how many /proc writers (writer w writes the value w + 1)
    "writers": ("1", "2"),
    # whether tasks may exit (exit_mm, mmput; the mm freed when mm_users and mm_count reach 0)
    "exit": ("none", "may_exit"),
    # whether __set_oom_adj pins the mm it walks with mmgrab/mmdrop or keeps a bare pointer
    "pin": ("mmgrab", "none"),
}
DEFAULT_KNOBS = {"walk_test": "flag", "flag_at": "copy_oom_score_adj", "flag_lock": "mutex",
                 "recopy": "yes", "flag_cond": "vm-only", "oom_kill": "none", "writers": "1",
                 "exit": "none", "pin": "mmgrab"}
# tasks: the processes, the parent and its children
SIZES = {"tasks": (3, 2, 4)}

TASK = "task"
WRITER = "writer"


def build(sizes: dict[str, int], knobs: dict[str, str]) -> Model:
    n = sizes["tasks"]
    nw = int(knobs["writers"])
    m = Model("oomadj", sizes={"tasks": n}, knobs=dict(knobs))
    m.domain(TASK, n)
    m.domain(WRITER, nw)
    m.actor("parent", "parent (clone)")
    m.actor(WRITER, "writer")

    stage = m.array("stage", TASK, Stage, init=lambda i: Stage.DONE if i == 0 else Stage.UNBORN,
                    doc="how far copy_process/kernel_clone got for this task (see Stage)")
    kind = m.array("kind", TASK, Kind, init=lambda i: Kind.PARENT if i == 0 else Kind.CLONE_VM,
                   doc="how the task was created (meaningful once stage > UNBORN)")
    adj = m.array("adj", TASK, IntType(0, nw), init=0, doc="signal->oom_score_adj")
    vfork_done = m.array("vfork_done", TASK, BOOL, init=0,
                         doc="task->vfork_done set: a vfork child (kernel_clone sets it)")
    flag = m.var("flag", BOOL, init=0, doc="MMF_MULTIPROCESS (MMF_PROC_SHARED in v1/v2) on the mm")
    mutex = m.var("adj_mutex", BOOL, init=0, doc="oom_adj_mutex is held")
    wpc = m.array("wpc", WRITER, WriterPC, init=WriterPC.IDLE, doc="where the writer is")
    target = m.array("target", WRITER, IntType(0, n - 1), init=0,
                     doc="the task whose /proc/<pid>/oom_score_adj the writer writes")
    walk = m.array("walk", WRITER, BOOL, init=0, doc="the writer decided to walk the task list")
    cursor = m.array("cursor", WRITER, IntType(0, n), init=0,
                     doc="for_each_process position of the writer's walk")
    last = m.var("last", IntType(0, nw), init=0,
                 doc="the value of the last write whose target is not a vfork child")
    leak = m.var("leak", BOOL, init=0,
                 doc="a write aimed at a vfork child changed another task's value")
    may_exit = knobs["exit"] == "may_exit"
    pin = knobs["pin"] == "mmgrab"
    if may_exit and knobs["oom_kill"] != "none":
        raise ModelError("knob exit=may_exit cannot be combined with oom_kill: the OOM sharer loop "
                         "pins the mm itself (mmgrab in __oom_kill_process), see the model docstring")
    exited = m.array("exited", TASK, BOOL, init=0,
                     doc="exit_mm done: task->mm = NULL, its mm_users reference dropped") \
        if may_exit else None
    uaf = m.var("uaf", BOOL, init=0,
                doc="a writer's walk went on with an mm that had been freed") if may_exit else None

    def linked(p: Param | int | Expr) -> Expr:
        s = stage[p]
        return (s == Stage.LINKED) | (s == Stage.RETURNED) | (s == Stage.DONE)

    def has_mm(p: Param | int) -> Expr:
        """The task holds a reference on the mm (mm_users counts it)."""
        s = stage[p]
        return (s == Stage.MM) | linked(p)

    def in_flight(p: Param | int) -> Expr:
        s = stage[p]
        return (s == Stage.SIGNAL) | (s == Stage.MM) | (s == Stage.LINKED) | (s == Stage.RETURNED)

    def live(p: Param | int) -> Expr:
        """The task holds an mm_users reference: past copy_mm and not yet through exit_mm."""
        return has_mm(p) & ~exited[p] if exited is not None else has_mm(p)

    def grabbed(w: Param | int) -> Expr:
        """The writer holds an mm_count reference (mmgrab, until the mmdrop after its walk)."""
        if not pin:
            return FALSE
        return walk[w] & ((wpc[w] == WriterPC.DECIDED) | (wpc[w] == WriterPC.WALK))

    # mm_users == 0 (every holder exited: __mmput ran) and mm_count == 0 (no grab left): freed
    freed = forall(TASK, lambda q: ~live(q)) & forall(WRITER, lambda w: ~grabbed(w))

    cloning = exists(TASK, lambda c: in_flight(c))
    vfork_waiting = exists(TASK, lambda c: (stage[c] == Stage.DONE) & (kind[c] == Kind.VFORK))

    def sets_flag(c: Param) -> Expr:
        if knobs["flag_cond"] == "vm-only":
            return kind[c] == Kind.CLONE_VM
        return (kind[c] == Kind.CLONE_VM) | (kind[c] == Kind.VFORK)

    def flag_section(c: Param) -> dict:
        ups: dict = {flag: ite(sets_flag(c), 1, flag)}
        if knobs["recopy"] == "yes":
            ups[adj[c]] = ite(sets_flag(c), adj[0], adj[c])
        return ups

    def flag_guard(c: Param) -> Expr:
        return implies(sets_flag(c), ~mutex) if knobs["flag_lock"] == "mutex" else TRUE

    lock_name = "under oom_adj_mutex" if knobs["flag_lock"] == "mutex" else "without the mutex"
    recopy_name = ", re-copy the parent's oom_score_adj" if knobs["recopy"] == "yes" else ""
    oom = knobs["oom_kill"] != "none"
    killed = m.array("killed", TASK, BOOL, init=0, doc="SIGKILL pending") if oom else None

    # ---- the parent: copy_process, then kernel_clone ------------------------------------
    for k, kname, flags in ((Kind.CLONE_VM, "clone", "clone(CLONE_VM)"),
                            (Kind.VFORK, "vfork", "vfork (CLONE_VM|CLONE_VFORK)")):
        m.action(
            f"copy_signal_{kname}", func="copy_signal", file="kernel/fork.c", actor="parent",
            params={"c": TASK},
            step=f"{flags}: copy_process -> copy_signal: a new signal_struct copies "
                 "oom_score_adj (and _min) from current, without the mutex",
            guard=lambda c: (stage[c] == Stage.UNBORN)
            & forall(TASK, lambda q: implies(q < c, stage[q] != Stage.UNBORN))
            & ~cloning & ~vfork_waiting & (~killed[0] if oom else TRUE)  # type: ignore[index]
            & (~exited[0] if exited is not None else TRUE),
            updates=lambda c, k=k: {stage[c]: Stage.SIGNAL, kind[c]: k, adj[c]: adj[0]},
        )
    in_mm = knobs["flag_at"] == "copy_mm"
    m.action(
        "copy_mm", func="copy_mm", file="kernel/fork.c", actor="parent", params={"c": TASK},
        step="CLONE_VM: mmget(oldmm), share it" + (
            f"; CLONE_VM without CLONE_SIGHAND ({lock_name}): set the flag{recopy_name} (v1)"
            if in_mm else ""),
        guard=lambda c: (stage[c] == Stage.SIGNAL) & (flag_guard(c) if in_mm else TRUE),
        updates=lambda c: {stage[c]: Stage.MM, **(flag_section(c) if in_mm else {})},
    )
    at_end = knobs["flag_at"] == "copy_oom_score_adj"
    m.action(
        "link", func="copy_process", file="kernel/fork.c", actor="parent", params={"c": TASK},
        step="write_lock_irq(&tasklist_lock), siglock: if fatal_signal_pending(current) fail "
             "with -EINTR; else list_add_tail_rcu(&p->tasks), attach_pid (visible in /proc)",
        guard=lambda c: stage[c] == Stage.MM,
        updates=lambda c: {stage[c]: ite(killed[0], Stage.ABORTED, Stage.LINKED) if oom
                           else Stage.LINKED},  # type: ignore[index]
    )
    if at_end:
        m.action(
            "copy_oom_score_adj", func="copy_oom_score_adj", file="kernel/fork.c",
            actor="parent", params={"c": TASK},
            step="last step of copy_process: if the clone flags have CLONE_VM and neither "
                 f"CLONE_THREAD nor CLONE_VFORK, {lock_name}: set the flag on the mm{recopy_name}",
            guard=lambda c: (stage[c] == Stage.LINKED) & flag_guard(c),
            updates=lambda c: {stage[c]: Stage.RETURNED, **flag_section(c)},
        )
    else:
        m.action(
            "copy_process_return", func="copy_process", file="kernel/fork.c", actor="parent",
            params={"c": TASK},
            step="the rest of copy_process after the link (cgroup_post_fork, ...): returns p",
            guard=lambda c: stage[c] == Stage.LINKED,
            updates=lambda c: {stage[c]: Stage.RETURNED},
        )
    m.action(
        "kernel_clone", func="kernel_clone", file="kernel/fork.c", actor="parent",
        params={"c": TASK},
        step="after copy_process returns: CLONE_VFORK sets p->vfork_done; wake_up_new_task(p); "
             "a vfork parent then waits in wait_for_vfork_done",
        guard=lambda c: stage[c] == Stage.RETURNED,
        updates=lambda c: {stage[c]: Stage.DONE, vfork_done[c]: kind[c] == Kind.VFORK},
    )

    # ---- the /proc writers: __set_oom_adj ------------------------------------------------
    def value(w: Param) -> Expr:
        return w + 1

    m.action(
        "set_oom_adj_lock", func="__set_oom_adj", file="fs/proc/base.c", actor=WRITER,
        params={"w": WRITER, "t": TASK},
        step="get_proc_task (the target is on the task list) then mutex_lock(&oom_adj_mutex)",
        guard=lambda w, t: (wpc[w] == WriterPC.IDLE) & ~mutex & linked(t),
        updates=lambda w, t: {wpc[w]: WriterPC.LOCKED, mutex: 1, target[w]: t},
    )
    if knobs["walk_test"] == "flag":
        test = flag
        test_name = "the mm has the flag"
    elif exited is None:
        test = exists(TASK, lambda q: (q != 0) & has_mm(q))
        test_name = "atomic_read(&mm->mm_users) > 1"
    else:
        test = exists(TASK, lambda q: exists(TASK, lambda r: (q < r) & live(q) & live(r)))
        test_name = "atomic_read(&mm->mm_users) > 1"
    m.action(
        "set_oom_adj_decide", func="__set_oom_adj", file="fs/proc/base.c", actor=WRITER,
        params={"w": WRITER},
        step=f"if !task->vfork_done: find_lock_task_mm(task) (NULL once the task ran exit_mm); "
             f"walk if {test_name}: mm = p->mm" + ("; mmgrab(mm)" if pin else " (no mmgrab)")
             + "; task_unlock",
        guard=lambda w: wpc[w] == WriterPC.LOCKED,
        updates=lambda w: {wpc[w]: WriterPC.DECIDED,
                           walk[w]: ~vfork_done[target[w]] & test
                           & (~exited[target[w]] if exited is not None else TRUE)},
    )
    m.action(
        "set_oom_adj_write", func="__set_oom_adj", file="fs/proc/base.c", actor=WRITER,
        params={"w": WRITER},
        step="task->signal->oom_score_adj = oom_adj (and _min with CAP_SYS_RESOURCE)",
        guard=lambda w: wpc[w] == WriterPC.DECIDED,
        updates=lambda w: {wpc[w]: WriterPC.WALK, cursor[w]: 0, adj[target[w]]: value(w),
                           last: ite(kind[target[w]] == Kind.VFORK, last, value(w))},
    )

    def updated(w: Param, p: Param) -> Expr:
        # process_shares_mm(p, mm) is false for a task whose threads all ran exit_mm (no p->mm)
        return (p != target[w]) & linked(p) & ~vfork_done[p] \
            & (~exited[p] if exited is not None else TRUE)


    m.action(
        "set_oom_adj_walk", func="__set_oom_adj", file="fs/proc/base.c", actor=WRITER,
        params={"w": WRITER, "p": TASK},
        step="rcu_read_lock; for_each_process(p), one task per step: skip the target's thread "
             "group; task_lock(p); if !p->vfork_done && process_shares_mm(p, mm), copy the value",
        guard=lambda w, p: (wpc[w] == WriterPC.WALK) & walk[w] & (cursor[w] == p),
        updates=lambda w, p: {
            cursor[w]: cursor[w] + 1,
            adj[p]: ite(updated(w, p), value(w), adj[p]),
            leak: leak | (updated(w, p) & (kind[target[w]] == Kind.VFORK)),
            # the target's thread group is skipped before process_shares_mm sees the mm
            **({uaf: uaf | (freed & (p != target[w]))} if uaf is not None else {}),
        },
    )
    m.action(
        "set_oom_adj_unlock", func="__set_oom_adj", file="fs/proc/base.c", actor=WRITER,
        params={"w": WRITER},
        step="rcu_read_unlock, " + ("mmdrop (if walked)" if pin else "no mmdrop")
             + "; mutex_unlock(&oom_adj_mutex)",
        guard=lambda w: (wpc[w] == WriterPC.WALK) & (~walk[w] | (cursor[w] == n)),
        updates=lambda w: {wpc[w]: WriterPC.DONE, mutex: 0},
    )

    # ---- exit (knob exit) ----------------------------------------------------------------
    if exited is not None:
        m.actor("exit", "exiting task")
        m.action(
            "exit_mm", func="exit_mm", file="kernel/exit.c", actor="exit", params={"t": TASK},
            step="do_exit -> exit_mm: task_lock(current); current->mm = NULL; task_unlock; "
                 "mmput(mm): the last mm_users reference runs __mmput (exit_mmap) and mmdrop, "
                 "which frees the mm unless someone holds an mmgrab",
            guard=lambda t: (stage[t] == Stage.DONE) & ~exited[t] & (kind[t] != Kind.VFORK)
            & implies(t == 0, ~cloning & ~vfork_waiting),
            updates=lambda t: {exited[t]: 1},
        )

    # ---- the OOM killer's sharer loop (knob oom_kill) ------------------------------------
    oom_done: Expr = TRUE
    if oom:
        assert killed is not None
        m.actor("oom", "OOM killer")
        opc = m.var("oom_pc", OomPC, init=OomPC.IDLE, doc="where the OOM killer is")
        victim = m.var("victim", IntType(0, n - 1), init=0, doc="the OOM victim")
        owalk = m.var("oom_walk", BOOL, init=0, doc="the OOM killer walks the task list")
        ocursor = m.var("oom_cursor", IntType(0, n), init=0, doc="its for_each_process position")
        m.action(
            "oom_kill_victim", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
            params={"v": TASK},
            step="the chosen victim (oom_badness skips in_vfork children): "
                 "do_send_sig_info(SIGKILL) to it; mark_oom_victim",
            guard=lambda v: (opc == OomPC.IDLE) & linked(v) & ~vfork_done[v],
            updates=lambda v: {opc: OomPC.KILLED, victim: v, killed[v]: 1},
        )
        sketch = knobs["oom_kill"] == "flag"
        m.action(
            "oom_decide_walk", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
            step="Michal Hocko's sketch (ack of v2): walk the task list only if the mm has "
                 "MMF_PROC_SHARED" if sketch else "the sharer loop runs unconditionally",
            guard=opc == OomPC.KILLED,
            updates={opc: OomPC.WALK, ocursor: 0, owalk: flag if sketch else 1},
        )
        m.action(
            "oom_walk", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
            params={"p": TASK},
            step="rcu_read_lock; for_each_process(p), one task per step: if process_shares_mm "
                 "and not the victim's thread group, do_send_sig_info(SIGKILL, p)",
            guard=lambda p: (opc == OomPC.WALK) & owalk & (ocursor == p),
            updates=lambda p: {ocursor: ocursor + 1,
                               killed[p]: killed[p] | (linked(p) & (p != victim))},
        )
        m.action(
            "oom_reap", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
            step="rcu_read_unlock; can_oom_reap: wake_oom_reaper(victim)",
            guard=(opc == OomPC.WALK) & (~owalk | (ocursor == n)),
            updates={opc: OomPC.DONE},
        )
        oom_done = opc == OomPC.DONE
        m.invariant(
            "sharers-killed",
            implies(opc == OomPC.DONE, forall(TASK, lambda p: implies(linked(p), killed[p]))),
            "when the OOM killer hands the mm to the reaper, every task on the list that shares "
            "it has SIGKILL pending (else the reaper unmaps memory a live task still uses)",
        )

    quiescent = forall(WRITER, lambda w: (wpc[w] == WriterPC.IDLE) | (wpc[w] == WriterPC.DONE)) \
        & ~cloning

    def sharer(p: Param) -> Expr:
        return linked(p) & (kind[p] != Kind.VFORK)

    m.set_final(forall(WRITER, lambda w: wpc[w] == WriterPC.DONE) & ~cloning & oom_done)

    # ---- properties ---------------------------------------------------------------------
    m.invariant(
        "sharers-agree",
        implies(quiescent, forall(TASK, lambda p: implies(sharer(p), adj[p] == adj[0]))),
        "whenever no write and no clone is in progress, every task sharing the mm that is not a "
        "vfork child has the parent's oom_score_adj (docs/kernel-background.md §7.2, P6)",
    )
    m.invariant(
        "last-write-wins",
        implies(quiescent, forall(TASK, lambda p: implies(sharer(p), adj[p] == last))),
        "whenever no write and no clone is in progress, every task sharing the mm that is not a "
        "vfork child holds the value of the last write aimed at such a task: no write is lost",
    )
    m.invariant(
        "vfork-keeps-own",
        ~leak,
        "a write aimed at a vfork child changes no other task (\"vfork wants its own "
        "oom_score_adj\", the comment in __set_oom_adj)",
    )
    if uaf is not None:
        m.invariant(
            "no-mm-use-after-free",
            ~uaf,
            "no writer's walk runs on with the mm it took under task_lock after that mm was freed "
            "(it hands the pointer to process_shares_mm, whose compare would match a process "
            "whose new mm reused the address: the \"pin the mm so it doesn't go away and get "
            "reused after task_unlock\" comment in __set_oom_adj)",
        )
    m.no_deadlock("no-deadlock", "some step is enabled until the writers and clones are done")
    return m
