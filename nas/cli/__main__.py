"""`python -m nas.cli COMMAND ...`: the `nas` command."""

import sys

from nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
