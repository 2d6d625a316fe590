"""Ownership data in and out of georisk: foreign formats (BODS 0.4, FollowTheMoney, GLEIF,
official lists) imported as the project's dataset format, and exported back.

* :mod:`.core`: the common shape of an import (:class:`Imported`, :class:`Rejected`, ids, shares);
* :mod:`.write`: the atomic writer of an imported dataset (and merging into an existing one);
* :mod:`.bods`: BODS 0.4 statements in (validated with the official schema) and out.
"""
