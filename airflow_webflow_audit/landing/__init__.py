"""Landing windows in object storage, and reading them back.

* :mod:`.layout` -- destination URLs and the keys of a window's object and manifest;
* :mod:`.formats` -- the encoders of each file format (gzip JSON Lines, Parquet);
* :mod:`.manifest` -- the manifest, built in one place from what the pull and the writer saw;
* :mod:`.storage` -- what differs per storage scheme: exclusive create, create arguments, listing, lineage names;
* :mod:`.writer` -- the only code that writes storage: each object an exclusive create, never replaced;
* :mod:`.reader` -- the only code that reads landed windows back, checked against their manifests.
"""
