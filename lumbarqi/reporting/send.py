"""Push written DICOM files to a PACS: C-STORE (pynetdicom) or STOW-RS (dicomweb-client).

Failures raise :class:`SendError` with one line that names the destination
(credentials removed) and says the files were left on disk. Nothing here logs
patient identifiers: only counts, SOP classes and status codes.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pydicom
from pydicom.uid import (
    Comprehensive3DSRStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SegmentationStorage,
)

log = logging.getLogger(__name__)
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
#: Always proposed, whatever the files hold: the SOP classes this package writes.
OUTPUT_SOP_CLASSES = (SegmentationStorage, LABEL_MAP_SEGMENTATION_STORAGE, Comprehensive3DSRStorage,
                      EncapsulatedPDFStorage)
_SUCCESS = {0x0000, 0xB000, 0xB006, 0xB007}  # success and warnings (coercion, elements discarded)
_ADDRESS = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d{1,5})$")


class SendError(RuntimeError):
    """Sending failed; the message is one line and the files stay where they are."""


def parse_address(address: str) -> tuple[str, str, int]:
    """'AE@host:port' -> (AE title, host, port)."""
    m = _ADDRESS.match(address.strip())
    if not m:
        raise SendError(f"bad C-STORE destination {address!r}: expected AE@host:port")
    return m["aet"], m["host"].strip("[]"), int(m["port"])


def redact_url(url: str) -> str:
    """The URL without user name, password, query or fragment (safe to print)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextmanager
def _quiet(name: str, level: int = logging.WARNING):
    """Raise a library logger's level for the duration (its debug output can show headers)."""
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        yield
    finally:
        logger.setLevel(old)


def _paths(paths: Iterable[Path | str]) -> list[Path]:
    out = [Path(p) for p in paths]
    missing = [p for p in out if not p.is_file()]
    if missing:
        raise SendError(f"{len(missing)} of {len(out)} files to send do not exist (first: {missing[0].name})")
    return out


def send_cstore(paths: Iterable[Path | str], address: str, calling_aet: str = "LUMBARQI",
                timeout_s: float = 30.0) -> int:
    """C-STORE every file to ``address`` ('AE@host:port'); returns the number stored.

    Proposes each file's SOP class (and the SEG, Label Map SEG, Comprehensive 3D
    SR and Encapsulated PDF classes explicitly) with its own transfer syntax plus
    explicit and implicit VR little endian.
    """
    from pynetdicom import AE

    files = _paths(paths)
    aet, host, port = parse_address(address)
    where = f"C-STORE to {aet}@{host}:{port}"
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    syntaxes: dict[str, list[str]] = {uid: [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
                                      for uid in OUTPUT_SOP_CLASSES}
    for ds in headers:
        ts = str(ds.file_meta.TransferSyntaxUID)
        lst = syntaxes.setdefault(str(ds.SOPClassUID), [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        if ts not in lst:
            lst.insert(0, ts)
    if len(syntaxes) > 128:
        raise SendError(f"{where}: {len(syntaxes)} SOP classes exceed one association; files left on disk")
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    for uid, lst in syntaxes.items():
        ae.add_requested_context(uid, lst)
    failed: list[str] = []
    with _quiet("pynetdicom"):
        assoc = ae.associate(host, port, ae_title=aet)
        if not assoc.is_established:
            raise SendError(f"{where}: association not established (refused, rejected or no answer); "
                            f"{len(files)} files left on disk")
        try:
            for path in files:
                status = assoc.send_c_store(pydicom.dcmread(path))
                code = int(getattr(status, "Status", -1)) if status else -1
                if code not in _SUCCESS:
                    failed.append(f"{path.name} (status 0x{code & 0xFFFF:04X})" if code >= 0
                                  else f"{path.name} (no response)")
        finally:
            assoc.release()
    if failed:
        raise SendError(f"{where}: {len(failed)} of {len(files)} files not stored, first {failed[0]}; "
                        "files left on disk")
    log.info("%s: %d files stored", where, len(files))
    return len(files)


def send_stow(paths: Iterable[Path | str], url: str, batch: int = 20, timeout_s: float = 60.0) -> int:
    """STOW-RS every file to the DICOMweb base ``url``; returns the number stored.

    User name and password in the URL are used for HTTP basic authentication and
    never appear in messages.
    """
    import requests
    from dicomweb_client.api import DICOMwebClient

    files = _paths(paths)
    parts = urlsplit(url)
    safe = redact_url(url)
    session = requests.Session()
    if parts.username:
        session.auth = (parts.username, parts.password or "")
    session.request = _with_timeout(session.request, timeout_s)  # type: ignore[method-assign]
    client = DICOMwebClient(url=safe, session=session)
    # dicomweb-client retries every exception (5 attempts, 2-16 s waits); keep it short
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=200)
    stored = 0
    with _quiet("dicomweb_client"), _quiet("urllib3"):
        for start in range(0, len(files), batch):
            chunk = [pydicom.dcmread(p) for p in files[start:start + batch]]
            try:
                response = client.store_instances(chunk)
            except requests.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else "?"
                raise SendError(f"STOW-RS to {safe}: HTTP {code} after {stored} of {len(files)} files; "
                                "files left on disk") from None
            except requests.RequestException as exc:
                raise SendError(f"STOW-RS to {safe}: {type(exc).__name__} after {stored} of {len(files)} "
                                "files; files left on disk") from None
            failed = len(getattr(response, "FailedSOPSequence", []) or []) if response is not None else 0
            if failed:
                raise SendError(f"STOW-RS to {safe}: {failed} files refused by the server; files left on disk")
            stored += len(chunk)
    log.info("STOW-RS to %s: %d files stored", safe, stored)
    return stored


def _with_timeout(request, timeout_s: float):
    """Wrap Session.request so every call has a timeout."""
    def call(method, url, **kwargs):
        kwargs["timeout"] = kwargs.get("timeout") or timeout_s
        return request(method, url, **kwargs)
    return call
