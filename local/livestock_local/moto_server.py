"""moto's server as `python -m moto.server` runs it, less one cost: moto (5.2) parses every rule
target's input paths, eight JSONPath expressions, anew for each event and each target
(`EventTemplateParser.parse`, which builds a yacc parser per expression). That was about 10 ms per
event per target, most of what a PutEvents cost the local EventBridge while the relays waited.
The paths are the same few every time, so their parsed form is cached.

    python -m livestock_local.moto_server -H 127.0.0.1 -p 5000   # moto.server's own arguments
"""

import functools
import sys

import jsonpath_ng.ext
from moto.server import main


def cache_jsonpath_parsing() -> None:
    """moto imports `parse` from jsonpath_ng.ext at each call, so replacing it there is enough; a
    parsed expression is not changed by finding matches with it."""
    parse = jsonpath_ng.ext.parse  # type: ignore[attr-defined]
    if not hasattr(parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(parse)  # type: ignore[attr-defined]


if __name__ == "__main__":
    cache_jsonpath_parsing()
    main(sys.argv[1:])
