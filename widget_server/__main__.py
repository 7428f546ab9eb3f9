import sys

from widget_server.cli import main

sys.exit(main())
