"""Work a backend runs in a thread of its own beside its main thread: NumPy's sorts and
gathers, hashing a large buffer, fsync -- calls that hold no GIL while they run, so they
proceed while the main thread runs Python or waits in PostgreSQL's executor (which
holds the GIL, but needs nothing of the thread). The build uses it (sync/build.py,
sync/basefile.py); nothing in the thread calls PostgreSQL.

The thread starts with every signal blocked: the server's handlers (cancel, terminate,
latch) run in the backend's own thread only. A cancel stops the main thread at its
next statement; a thread still running then ends by itself (it holds only what it was
given, and what it made is dropped)."""


def start(fn):
    """Run ``fn()`` in a new thread; returns wait(), which waits for it and returns
    what fn returned (or raises what it raised)."""
    import signal  # here, not at the top: a read never starts a thread
    import threading

    got = {}

    def run():
        try:
            got["value"] = fn()
        except BaseException as exc:  # handed to wait()
            got["error"] = exc

    thread = threading.Thread(target=run, name="graphsync-build", daemon=True)
    was = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        thread.start()  # inherits the mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, was)

    def wait():
        thread.join()
        if "error" in got:
            raise got.pop("error")
        return got.get("value")

    wait.thread = thread
    return wait
