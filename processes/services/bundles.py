"""Turning stored versions into engine bundles, once per process and version."""

from __future__ import annotations

import threading
from collections import OrderedDict

from processes.engine import Bundle
from processes.models import ProcessVersion

_CACHE_SIZE = 64
_cache: OrderedDict[str, Bundle] = OrderedDict()
_lock = threading.Lock()


def bundle_for_version(version: ProcessVersion) -> Bundle:
    """The parsed bundle of a version, rebuilt from its stored spec (never from XML) and cached.

    Keyed by content hash: a version's content never changes, so a cached entry can never go stale.
    """
    key = version.content_hash
    with _lock:
        bundle = _cache.get(key)
        if bundle is not None:
            _cache.move_to_end(key)
            return bundle
    bundle = Bundle.from_spec_json(version.spec)
    with _lock:
        _cache[key] = bundle
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return bundle
