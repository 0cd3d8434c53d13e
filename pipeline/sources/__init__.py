"""The kinds of SOURCE, one module each, behind one interface (``base.Source``), chosen
by ``kinds.source_for``:

- ``filesystem``: directories, files and globs, split into directory subtrees and walked
  where they land;
- ``tar``: tar archives (local or s3://), streamed member by member;
- ``bucket``: s3://bucket/prefix, for server-side copies;
- ``file_list``: ``--files-from``, a list of paths under one SOURCE directory, read in
  parallel on a cluster (a PBegin transform, as it reads no SOURCE text).
"""
