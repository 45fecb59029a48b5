"""The fork server's one setting of its own, preloaded before the libraries (worker_preload):
multiprocessing passes over an import error in a preload module without a word, so this module
imports nothing that could fail.

The server ignores SIGTERM: the stack stops its children itself, in order, and a SIGTERM to the
whole group (`kill -TERM -<pgid>`) must not end the server first, and with it (PDEATHSIG) every
child in the middle of its work. The server ends when the stack does (the children let go of the
pipe that tells it so: lambda_runtime.become_stack_child)."""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
