"""The per-file report: where it goes, its lines, writing it, and resuming from it.

``place`` resolves once where the report goes (``--report``, ``--resume``, the runner);
``destinations`` checks that place before the first upload; ``staging`` readies it for the
run (an s3:// file copied in and out); ``sink`` writes the lines, one file or shards;
``lines`` makes and parses a line; ``resume`` joins the recorded lines with the walk.
"""
