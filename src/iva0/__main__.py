import sys

from iva0.cli import main

sys.exit(main())
