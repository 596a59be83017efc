"""Landing windows in object storage, and reading them back.

* :mod:`.layout` -- destination URLs and the keys of a window's object and manifest;
* :mod:`.formats` -- the encoders of each file format (gzip JSON Lines, Parquet);
* :mod:`.manifest` -- the manifest, built in one place from what the pull and the writer saw;
* :mod:`.writer` -- the only code that writes storage: temporary key, then one move into place;
* :mod:`.reader` -- the only code that reads landed windows back, checked against their manifests.
"""
