"""The one exception type of the package.

Every error a user can cause (missing data folder, unreadable file, bad parameter, hash mismatch...)
is raised as :class:`GtzanError` with a message that says what to do. The ``gtzan`` command line prints
that message and exits non-zero without a traceback.
"""


class GtzanError(Exception):
    """An error the user can fix; the message says how."""
