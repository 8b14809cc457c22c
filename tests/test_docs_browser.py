"""The built documentation site opened in a real browser (headless Chromium).

Three pages -- the landing page, the API page of ``brainfeat.load`` and the Figure 2 gallery
example -- must render with every image loaded, and no request may leave the machine: the
browser's proxy is a recorder on 127.0.0.1 that answers nothing, and the pages' own resource
list must hold only local files. Skipped, with the reason, where no Chromium is installed
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_evaluation_browser import _browser, _run_browser

from docs_build import build_site

# Chromium's own services, which it calls whatever the page (component updates, sign-in): left
# out of the proxy's record. A page's request to any other host fails the test.
BROWSER_SERVICES = ("update.googleapis.com", "accounts.google.com", "clients2.google.com")
QUIET = ("--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter",
         "--disable-domain-reliability", "--disable-client-side-phishing-detection",
         "--no-pings", "--disable-default-apps", "--disable-extensions", "--disable-breakpad")

PAGES = ["index.html", "generated/brainfeat.load.html", "auto_examples/21_figure2.html"]
MIN_IMAGES = {"index.html": 1, "generated/brainfeat.load.html": 0,
              "auto_examples/21_figure2.html": 1}

# Written into a copy of each page: after load, list every image (loaded or not) and every
# resource the page fetched into an element that --dump-dom prints.
_PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const images = Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
    loaded: i.complete && i.naturalWidth > 0}));
  const resources = performance.getEntriesByType("resource").map(r => r.name);
  const out = document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify({images, resources, title: document.title,
                                    text: document.body.innerText.length});
  document.body.appendChild(out);
}, 500));
</script>"""


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    """A proxy on 127.0.0.1 that records each request line and closes the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    requests: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    requests.append(connection.recv(4096).split(b"\r\n")[0].decode())
                except OSError:
                    requests.append("(unreadable request)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", requests
    finally:
        stop.set()
        thread.join()
        server.close()


def _probe(browser: str, page: Path, profile: Path, proxy: str) -> dict:
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    result = _run_browser(browser, profile, *QUIET, f"--proxy-server=http://{proxy}",
                          "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=10000",
                          "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    assert found is not None, f"{page.name}: the probe did not run\n{result.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_page_renders_with_its_images_and_nothing_leaves_the_machine(name: str,
                                                                    tmp_path: Path) -> None:
    browser = _browser()
    site = build_site()
    assert site.returncode == 0, site.output[-4000:]
    with recording_proxy() as (proxy, requests):
        seen = _probe(browser, site.html / name, tmp_path / "profile", proxy)
    assert seen["text"] > 200, f"{name} rendered almost no text"
    assert "brainfeat" in seen["title"]
    assert len(seen["images"]) >= MIN_IMAGES[name], seen["images"]
    assert all(image["loaded"] for image in seen["images"]), seen["images"]
    remote = [url for url in seen["resources"] if not url.startswith("file://")]
    assert remote == [], f"{name} fetched {remote}"
    left = [line for line in requests if not any(host in line for host in BROWSER_SERVICES)]
    assert left == [], f"{name} sent requests off the machine: {left}"
