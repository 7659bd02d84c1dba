"""Provider batch APIs with a live repair pass: half the price, the same records.

``submit`` prepares the requests the live path would send and uploads them as one batch
(OpenAI's Files + Batches, or Mistral's Files + Batch jobs), remembering the batch and
its documents in the run store. ``collect`` downloads the answers once the batch is
done, validates them through the live pipeline, repairs invalid ones live at the normal
price, and commits one record per document; the cost ledger says which calls were
batch-priced. A collect killed half-way commits only what is missing when run again.

Example:
    >>> from extractor.batch import collect, submit  # doctest: +SKIP
"""

from __future__ import annotations

from extractor.batch.collect import Collected, PrimedProvider, collect
from extractor.batch.protocols import BatchClient, BatchInfo, MistralBatches, OpenAIBatches
from extractor.batch.submit import Submitted, submit

__all__ = [
    "BatchClient",
    "BatchInfo",
    "Collected",
    "MistralBatches",
    "OpenAIBatches",
    "PrimedProvider",
    "Submitted",
    "collect",
    "submit",
]
