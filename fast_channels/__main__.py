"""`python -m fast_channels`: the same as the `fast-channels` command (demo by default)."""

from fast_channels.demo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
