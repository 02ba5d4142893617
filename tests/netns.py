"""The two-host test fabric: kept importable as ``netns`` for the tests.

The code moved into the package (``omx_transport.netns``) so that the
benchmark suite can use it after a plain ``pip install``; see there.
"""

from omx_transport.netns import *  # noqa: F403
from omx_transport.netns import __all__  # noqa: F401
