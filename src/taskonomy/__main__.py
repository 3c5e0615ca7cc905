import sys

from taskonomy.cli import main

sys.exit(main())
