"""Loading and validation of a georisk dataset: one job, one package.

* :mod:`.core`: the :class:`Dataset`, its issues and errors, the readers of the record files
  (YAML, reference CSV, JSONL), the checks (duplicate ids, references, equity totals) and
  :func:`load_dataset` / :func:`assemble`;
* :mod:`.bulkcsv`: column-wise reading of bulk ``NAME.links.csv`` / ``NAME.entities.csv``;
* :mod:`.linkstore`: links held as objects and NumPy columns (:class:`LinkStore`), and the
  variant of an overlay over them (:class:`OverlaidStore`);
* :mod:`.yamlio`: the one safe YAML reader (datasets, policy packs, overlays).

Everything the rest of the code imports is re-exported here.
"""

from georisk.scoring.dataset.core import (
    RECORD_KINDS,
    Dataset,
    DatasetError,
    DatasetIssue,
    assemble,
    load_dataset,
    merge_records,
    reference_issues,
    share_total_issues,
)

# the public classes read as the package's (tracebacks, doctests, pickles stay as before the split)
for _cls in (Dataset, DatasetError, DatasetIssue):
    _cls.__module__ = __name__

__all__ = [
    "RECORD_KINDS",
    "Dataset",
    "DatasetError",
    "DatasetIssue",
    "assemble",
    "load_dataset",
    "merge_records",
    "reference_issues",
    "share_total_issues",
]
