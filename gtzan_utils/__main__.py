"""`python -m gtzan_utils ...` is the `gtzan` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
