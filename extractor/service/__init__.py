"""``extractor serve``: the HTTP API, durable jobs, and the review page.

Needs the ``service`` extra (``pip install 'extractor[service]'``: FastAPI, uvicorn,
python-multipart). The pieces, in the order a request meets them:

- :mod:`~extractor.service.auth` bearer tokens (and the review pages' login cookie);
- :mod:`~extractor.service.uploads` multipart bodies streamed to files, within limits;
- :mod:`~extractor.service.routes_api` and :mod:`~extractor.service.review` the routes;
- :mod:`~extractor.service.engine` jobs over one provider: commit, resume, cancel;
- :mod:`~extractor.service.scheduler` one concurrency limit shared round-robin;
- :mod:`~extractor.service.storage` the service's SQLite index under ``--data``;
- :mod:`~extractor.service.render` page images for the review page, drawn in a child.

Imports are lazy: ``python -m extractor.service.render`` must not load the web stack.

Example:
    >>> from extractor.service import ServiceConfig, create_app  # doctest: +SKIP
    >>> app = create_app(ServiceConfig(data=Path("data")))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractor.service.app import create_app
    from extractor.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]

_HOME = {"ServiceConfig": "extractor.service.config", "create_app": "extractor.service.app"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'extractor.service' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
