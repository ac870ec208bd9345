"""Docker HEALTHCHECK: exit 0 only when /health answers 200 (503 while loading or shutting down)."""

import os
import sys
import urllib.error
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('LOCALCHAT_PORT', '8000')}/health"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError):
    sys.exit(1)
