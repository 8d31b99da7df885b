"""`python -m desktop_app` and the `sqlite-pulse` launcher: a verb runs headless, anything else opens the window."""

import sys

from desktop_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
