"""The prebuilt OHIF viewer served as a site would: static files with SPA fallback, an
app-config.js naming one DICOMweb data source, and /dicom-web/ reverse-proxied to the PACS
(same origin, so no CORS set-up in Orthanc). Used by test_ohif.py; see docs/ohif.md."""
from __future__ import annotations

import http.server
import mimetypes
import threading
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIEWER_DIR = ROOT / "tests" / "viewer"
OHIF_VERSION = "3.13.2"
OHIF_DIR = VIEWER_DIR / ".cache" / f"ohif-{OHIF_VERSION}"

#: The data-source block a site needs for Orthanc's DICOMweb plugin (docs/ohif.md explains it).
APP_CONFIG = """window.config = {
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  maxNumberOfWebWorkers: 2,
  defaultDataSourceName: 'orthanc',
  investigationalUseDialog: { option: 'never' },
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {
        friendlyName: 'Orthanc DICOMweb',
        name: 'orthanc',
        wadoUriRoot: '/dicom-web',
        qidoRoot: '/dicom-web',
        wadoRoot: '/dicom-web',
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',  // not 'pdf': Orthanc renders no PDF (/rendered), OHIF then takes the bulk data
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
"""


def ohif_installed() -> bool:
    return (OHIF_DIR / "index.html").is_file()


class _Handler(http.server.BaseHTTPRequestHandler):
    pacs_url = ""  # set per server class

    def log_message(self, *args) -> None:  # quiet
        return

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path.startswith("/dicom-web/"):
            return self._proxy()
        if path == "/app-config.js":
            return self._send(200, APP_CONFIG.encode(), "application/javascript")
        file = (OHIF_DIR / path.lstrip("/")).resolve()
        if OHIF_DIR.resolve() not in file.parents or not file.is_file():
            file = OHIF_DIR / "index.html"  # SPA fallback: /viewer?StudyInstanceUIDs=... etc.
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".wasm":
            kind = "application/wasm"
        self._send(200, file.read_bytes(), kind)

    def _send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _proxy(self) -> None:
        # keep the browser's Host: Orthanc's DICOMweb plugin writes absolute BulkDataURIs from it,
        # which must point back here (same origin), not at Orthanc itself
        request = urllib.request.Request(self.pacs_url + self.path, headers={
            "Accept": self.headers.get("Accept", "*/*"), "Host": self.headers.get("Host", "")})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                self._send(r.status, r.read(), r.headers.get("Content-Type", "application/octet-stream"))
        except urllib.error.HTTPError as e:
            self._send(e.code, e.read(), e.headers.get("Content-Type", "text/plain"))


class ViewerServer:
    """OHIF on http://127.0.0.1:<port>/ in a background thread, proxying DICOMweb to ``pacs_url``."""

    def __init__(self, pacs_url: str):
        handler = type("Handler", (_Handler,), {"pacs_url": pacs_url.rstrip("/")})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
