"""Keys that some servers store under another key.

SeaweedFS stores a key with a backslash under the key with '/' instead (``a\\b`` as
``a/b``) and folds '//' into '/'; it answers a HEAD or DELETE of the sent key with the
object of the stored one, and only a listing shows the truth. Uploaded as usual, such a
file would overwrite the object of another file, look absent on every later run, and
its object would look stale to --delete. So before a key that a server may rewrite is
uploaded, it is checked not to land on another object; after, that it was stored under
itself, or the object is removed again; either way the file fails, naming both keys.
"""

from __future__ import annotations

from pipeline.naming import rewritten
from pipeline.transport.control import Control, ObjectInfo, S3Error


def listed_object(control: Control, bucket: str, key: str) -> ObjectInfo | None:
    """The object stored under exactly ``key``, as a listing shows it (a HEAD may answer
    for another key on such a server). ``key`` comes first of the keys it begins."""
    first = next(iter(control.list_objects(bucket, key)), None)
    return first if first is not None and first.key == key else None


def _stored_as_itself(control: Control, bucket: str, key: str) -> bool:
    return listed_object(control, bucket, key) is not None


def _advice(key: str, stored: str) -> str:
    return (
        f"the server stores the key {key!r} as {stored!r} (it rewrites '\\' or '//'): "
        "rename the file"
    )


def check_before_upload(control: Control, bucket: str, key: str) -> tuple[str, bool]:
    """(why ``key`` must not be uploaded, or ''; whether it names nothing on this server
    yet). Uploaded when it names nothing, its write must find nothing either
    (``If-None-Match``), so that it cannot land on an object stored meanwhile."""
    try:
        if _stored_as_itself(control, bucket, key):
            return "", False
        if not control.exists(bucket, key):
            return "", True
    except S3Error as e:
        return f"cannot check where the server stores {key!r}: {e}", False
    error = f"{_advice(key, rewritten(key))}; not uploaded, so that object is not overwritten"
    return error, False


def check_after_upload(control: Control, bucket: str, key: str, etag: str) -> str:
    """'' when the upload of ``key`` (which the server answered with ``etag``) was stored
    under ``key``; else the object it stored elsewhere is deleted again (only while it
    is still this upload's), and the error says where it went."""
    stored = rewritten(key)
    try:
        if _stored_as_itself(control, bucket, key):
            return ""
        found = listed_object(control, bucket, stored)
        if found is None or found.etag.strip('"') != etag:
            return f"{_advice(key, stored)}; another upload has changed that object since"
        refused = control.delete_objects(bucket, [stored])
    except S3Error as e:
        return f"the server did not store {key!r} under that key, and it could not be removed: {e}"
    if refused:
        return f"{_advice(key, stored)}; that object could not be removed: {refused[stored]}"
    return f"{_advice(key, stored)}; the object it stored there was removed again"
