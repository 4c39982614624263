"""Named crash points for the fault-injection tests: ``ARBRIDGE_CRASH_AT=<name>`` kills the process there.

The names, in the order a file meets them:

- ``after_download``: an inbound file is in the spool, nothing committed yet
- ``after_post_before_commit``: its receipts are posted, the transaction not committed
- ``after_rename``: the remote file was removed or archived after the commit
- ``before_upload``: an outbound file is recorded ``sending``, nothing uploaded
- ``after_upload_before_sent``: the upload was renamed into place, ``sent`` not recorded
"""

from __future__ import annotations

import os

NAMES = frozenset(
    {
        "after_download",
        "after_post_before_commit",
        "after_rename",
        "before_upload",
        "after_upload_before_sent",
    }
)
CRASH_STATUS = 137  # what a shell reports for kill -9


def crashpoint(name: str) -> None:
    """Die like kill -9 here (no cleanup, no finally blocks, no flush) when the variable names this point."""
    if os.environ.get("ARBRIDGE_CRASH_AT") == name:
        os._exit(CRASH_STATUS)
