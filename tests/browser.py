"""Pages checked as a person sees them: Debian's headless Chromium, driven
by Playwright (its own browser downloads are not used: no network here).

    with browser.open_page('/path/report.html') as page:
      page.console   # every console message (type, text)
      page.requests  # every URL the page asked for
      page.dom       # Playwright's Page, to query what is shown
"""

import atexit
import contextlib
import dataclasses
import shutil
from typing import Any

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@dataclasses.dataclass
class Page:
  dom: Any
  console: list[tuple[str, str]]
  requests: list[str]
  page_errors: list[str]

  def text(self, selector: str) -> str:
    return self.dom.locator(selector).first.inner_text()

  def texts(self, selector: str) -> list[str]:
    return self.dom.locator(selector).all_inner_texts()


_BROWSER = []  # one Chromium per test process: Playwright's sync API
               # allows one running instance at a time


def _browser():
  if not _BROWSER:
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, ('Chromium is missing: `apt-get install chromium` '
                      '(make test installs it)')
    playwright = sync_playwright().start()
    _BROWSER.append(playwright.chromium.launch(executable_path=CHROMIUM,
                                               args=['--no-sandbox']))

    def stop():
      _BROWSER.pop().close()
      playwright.stop()
    atexit.register(stop)
  return _BROWSER[0]


@contextlib.contextmanager
def open_page(path: str = None, html: str = None, width: int = 1300):
  """A file (or an HTML string) loaded in headless Chromium."""
  context = _browser().new_context(viewport={'width': width, 'height': 900})
  try:
    page = context.new_page()
    seen = Page(page, [], [], [])
    page.on('console', lambda m: seen.console.append((m.type, m.text)))
    page.on('request', lambda r: seen.requests.append(r.url))
    page.on('pageerror', lambda e: seen.page_errors.append(str(e)))
    if path is not None:
      page.goto('file://' + path)
    else:
      page.set_content(html)
    page.wait_for_load_state('load')
    yield seen
  finally:
    context.close()
