"""Credentials from the standard AWS chain (what boto3 finds), resolved where they are used.

Nothing here is pickled or printed: each worker asks botocore for itself.
"""

from __future__ import annotations

import botocore.credentials
import botocore.exceptions
import botocore.session

from pipeline.errors import UsageError


def botocore_credentials(profile: str | None = None) -> botocore.credentials.Credentials:
    """The credentials boto3 would use: env vars (with session token), profiles, roles."""
    session = botocore.session.Session(profile=profile)
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as e:
        raise UsageError(f"AWS profile {profile!r} not found") from e
    if credentials is None:
        raise UsageError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or configure a profile"
        )
    return credentials


def default_region(profile: str | None = None) -> str | None:
    try:
        region: str | None = botocore.session.Session(profile=profile).get_config_variable("region")
    except botocore.exceptions.ProfileNotFound as e:
        raise UsageError(f"AWS profile {profile!r} not found") from e
    return region
