"""A supervised child and what it starts: asked to stop, killed, and gone with the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.parts.processes import alive, ensure_console
from tests.parts.waiting import wait_until
from variet.engine.llama.process_tree import ProcessTree

# The child starts a grandchild once told to (after it joined the tree), prints its pid, and waits.
CHILD = ("import subprocess, sys, time; sys.stdin.readline(); "
         "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
         "print(g.pid, flush=True); time.sleep(300)")
# A stand-in for the engine: it starts CHILD in a tree, reports both pids, and waits to be killed.
PARENT = ("import subprocess, sys, time; from variet.engine.llama.process_tree import ProcessTree; "
          "t = ProcessTree(); "
          f"c = subprocess.Popen([sys.executable, '-c', {CHILD!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE, "
          "text=True, **t.spawn_options()); t.adopt(c.pid); c.stdin.write('go\\n'); c.stdin.flush(); "
          "print(c.pid, c.stdout.readline().strip(), flush=True); time.sleep(300)")


@contextmanager
def tree_with_grandchild() -> Iterator[tuple[ProcessTree, subprocess.Popen[str], int]]:
    tree = ProcessTree()
    with subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          **tree.spawn_options()) as child:
        assert child.stdin is not None and child.stdout is not None
        tree.adopt(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        grandchild = int(child.stdout.readline())
        try:
            yield tree, child, grandchild
        finally:
            tree.close()
            child.wait(timeout=30)


def gone(pid: int) -> bool:
    return not alive(pid)


def test_killing_the_tree_kills_the_child_and_what_it_started() -> None:
    with tree_with_grandchild() as (tree, child, grandchild):
        assert alive(child.pid) and alive(grandchild)
        tree.kill()
        child.wait(timeout=30)
        wait_until("the grandchild to die", lambda: gone(grandchild), timeout=30)


def test_asking_the_tree_to_stop_ends_the_child() -> None:
    ensure_console()  # CTRL_BREAK travels through the console the child shares with us
    with tree_with_grandchild() as (tree, child, _):
        assert tree.interrupt()
        assert child.wait(timeout=30) != 0


def test_the_child_dies_with_the_process_that_started_it_even_when_that_one_is_killed() -> None:
    with subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        child, grandchild = (int(pid) for pid in parent.stdout.readline().split())
        try:
            parent.kill()  # SIGKILL / TerminateProcess: no clean-up code runs in it
            parent.wait(timeout=30)
            wait_until("the child to die", lambda: gone(child), timeout=30)
            if sys.platform == "win32":  # on Linux the kernel tells the child only; llama-server passes it on
                wait_until("the grandchild to die", lambda: gone(grandchild), timeout=30)
        finally:
            if sys.platform != "win32" and alive(grandchild):
                os.kill(grandchild, signal.SIGKILL)

