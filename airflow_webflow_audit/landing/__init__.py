"""Landing windows in object storage, and reading them back.

* :mod:`.layout` -- destination URLs and every name the layout owns, each with one spelling;
* :mod:`.formats` -- each file format (gzip JSON Lines, Parquet): its encoder and how events are read back;
* :mod:`.manifest` -- the manifest, built in one place from what the pull and the writer saw;
* :mod:`.storage` -- what differs per storage scheme: exclusive create, create arguments, listing, lineage names;
* :mod:`.writer` -- writing storage: each object an exclusive create, never replaced;
* :mod:`.chain` -- the one chain judge of a window's parts;
* :mod:`.reader` -- reading landed windows back, judged by the chain judge;
* :mod:`.land` -- landing one window: pull, compare with its parts, write what they lack;
* :mod:`.batch` -- landing a task's windows several at once;
* :mod:`.horizon` -- the retention horizon's one look per task.
"""
