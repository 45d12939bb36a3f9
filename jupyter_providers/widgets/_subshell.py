"""A widget's clicks while a plain cell runs: its front end's messages handled on a kernel subshell of their own.

ipykernel handles the main shell's messages one at a time on the main thread, so a click waits for the running
cell to end. ipykernel 7.4 routes a comm's messages from the front end to the subshell the comm last sent from
(its ``_reply_subshell_for``); :func:`route_to_subshell` makes a subshell (a thread with its own event loop) and
points a widget's comm at it, so a click reaches the widget's handlers on that thread while the cell runs.
Execute requests still go to the main shell, in order (a Run All's next cells wait for the cell as ever), and the
cell's output keeps its place (the kernel's parent header is per thread).

It leans on ipykernel's private parts (the subshell manager, the comm's routing); where any is missing (ipykernel
before 7.4, another kernel) nothing is changed and ``None`` says so: the caller shows another way to stop.
(jupyter-ui-poll, which polls the shell instead, calls ``Kernel.do_one_iteration``: ipykernel 7.1 removed it.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["route_to_subshell"]

log = logging.getLogger(__name__)
#: how long to wait for the kernel's shell channel thread to make the subshell
CREATE_TIMEOUT_S = 2.0


def _kernel() -> Any:
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None)


def route_to_subshell(widget: Any) -> Callable[[], None] | None:
    """Have ``widget``'s messages from the front end handled on a new subshell; return what ends it (call it when
    the widget is done), or ``None`` when this kernel cannot (nothing was changed).

    Each message the comm sends from the main thread points the replies back at the main shell: route after the
    widget's last change made on the main thread (changes made by a click's handler, on the subshell, keep it)."""
    try:
        kernel: Any = _kernel()
        comm: Any = getattr(widget, "comm", None)
        if not getattr(kernel, "_supports_kernel_subshells", False):
            return None
        if not callable(getattr(comm, "_reply_subshell_for", None)) or not hasattr(comm, "_reply_subshell_lock"):
            return None  # ipykernel before 7.4: a comm's messages always go to the main shell
        manager = kernel.shell_channel_thread.manager
        loop = manager._shell_channel_io_loop
        made: Future[str] = Future()

        def create() -> None:  # on the shell channel thread, which owns the subshells
            try:
                made.set_result(manager._create_subshell())
            except BaseException as exc:
                made.set_exception(exc)

        loop.add_callback(create)
        try:
            subshell = made.result(timeout=CREATE_TIMEOUT_S)
        except BaseException:  # not made in time (or interrupted): if made later, it is ended then
            made.add_done_callback(lambda f: _end_made(loop, manager, f))
            raise
        with comm._reply_subshell_lock:
            comm._reply_subshell_id = subshell
    except Exception:
        log.debug("a widget's clicks cannot be routed to a subshell", exc_info=True)
        return None

    def end() -> None:
        with comm._reply_subshell_lock:
            if getattr(comm, "_reply_subshell_id", None) == subshell:
                comm._reply_subshell_id = None
        _end(loop, manager, subshell)

    return end


def _end_made(loop: Any, manager: Any, made: Future[str]) -> None:
    if made.exception() is None:
        _end(loop, manager, made.result())


def _end(loop: Any, manager: Any, subshell: str) -> None:
    def delete() -> None:
        try:
            manager._delete_subshell(subshell)
        except Exception:  # ended already (a front end may delete subshells too)
            log.debug("subshell %s was not there to end", subshell, exc_info=True)

    try:
        loop.add_callback(delete)
    except Exception:  # the kernel is shutting down: its subshells end with it
        log.debug("subshell %s not ended", subshell, exc_info=True)
