"""s3-parallel-put: upload trees of files to S3-compatible storage with Apache Beam."""

__version__ = "0.1.0"
