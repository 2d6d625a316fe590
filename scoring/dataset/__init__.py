"""Loading and validation of a georisk dataset: one job, one package.

* :mod:`.core`: the :class:`Dataset`, its issues (:class:`DatasetIssue`, :class:`DatasetError`)
  and the record kinds;
* :mod:`.load`: :func:`load_dataset` (a directory) and :func:`assemble` (validated records);
* :mod:`.readers`: the readers of the record files (YAML, CSV row by row, JSONL);
* :mod:`.validate`: the checks of the whole (duplicate ids, references, equity totals);
* :mod:`.bulkcsv`: column-wise reading of bulk ``NAME.links.csv`` / ``NAME.entities.csv``;
* :mod:`.linkstore`: links held as objects and NumPy columns (:class:`LinkStore`), and the
  variant of an overlay over them (:class:`OverlaidStore`);
* :mod:`.yamlio`: the one safe YAML reader (datasets, policy packs, overlays).

Everything the rest of the code imports is re-exported here.
"""

from georisk.scoring.dataset.core import RECORD_KINDS, Dataset, DatasetError, DatasetIssue
from georisk.scoring.dataset.load import assemble, load_dataset
from georisk.scoring.dataset.validate import merge_records, reference_issues, share_total_issues

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
