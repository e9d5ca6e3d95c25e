"""`python -m gtzan_utils ...` is the `gtzan` command."""

from gtzan_utils.run.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
