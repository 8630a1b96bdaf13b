"""Driving the audit page in Chromium: the helpers of the browser tests (test_ui*.py).

Screenshots of each step are kept under test-output/ui/ (VISIONSERVE_TEST_OUTPUT).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import TEST_OUTPUT

SHOTS = TEST_OUTPUT / "ui"

# Records every status text a method's card shows, so a test can see progress that came and went.
RECORD_STATUS = """
window.statusSeen = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('#views .view .time')) window.statusSeen.push(
    el.closest('.view').dataset.method + ': ' + el.textContent);
}).observe(document.getElementById('views'), {subtree: true, childList: true, characterData: true});
"""
# Every URL the page's content security policy refused, from the first script on.
RECORD_REFUSED = """
window.refusedUrls = [];
document.addEventListener('securitypolicyviolation', e => window.refusedUrls.push(e.blockedURI));
"""
# Distinct RGBA values in a canvas: a real map has many, a blank or failed one a single one.
CANVAS_COLOURS = """
const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
for (let i = 0; i < d.length; i += 4 * 97) seen.add(d.slice(i, i + 4).join());
return [c.width, c.height, seen.size];
"""


def shot(browser: Any, name: str) -> Path:
    """The whole page, not only the window: the window grows to the page for the picture."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = browser.get_window_size()
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size["width"], max(size["height"], height + 100))
    try:
        browser.save_screenshot(str(path))
    finally:
        browser.set_window_size(size["width"], size["height"])
    return path


def wait(browser: Any, condition: Callable[[Any], Any], seconds: float = 60) -> Any:
    return WebDriverWait(browser, seconds, poll_frequency=0.2).until(condition)


def open_page(browser: Any, url: str) -> None:
    browser.set_window_size(1280, 800)
    browser.get(f"{url}/ui")
    wait(browser, lambda b: b.find_element(By.ID, "model").is_enabled())
    assert not browser.find_element(By.ID, "key-form").is_displayed()  # this service asks for no key


def upload_and_predict(browser: Any, model: str, image: Path, threshold: str = "") -> None:
    Select(browser.find_element(By.ID, "model")).select_by_value(model)
    if threshold:
        browser.find_element(By.ID, "score-threshold").send_keys(threshold)
    browser.find_element(By.ID, "file").send_keys(str(image))
    browser.find_element(By.ID, "predict").click()


def only(browser: Any, method: str) -> None:
    """Tick one method and no other, by keyboard."""
    for box in browser.find_elements(By.CSS_SELECTOR, "#methods input"):
        if box.is_selected() != (box.get_attribute("value") == method):
            box.send_keys(Keys.SPACE)


def shown_options(browser: Any) -> list[str]:
    return [el.get_attribute("id") for el in browser.find_elements(By.CSS_SELECTOR, "#options input")
            if el.is_displayed()]  # fmt: skip


# Every box label's tag, in the image's pixels, and the image's size.
LABEL_TAGS = """
const marks = document.getElementById('marks');
const [, , w, h] = marks.getAttribute('viewBox').split(' ').map(Number);
return [w, h, [...marks.querySelectorAll('rect.tag')].map(r => ['x', 'y', 'width', 'height'].map(
  k => Number(r.getAttribute(k))))];
"""


def labels_apart_and_inside(browser: Any) -> int:
    width, height, tags = browser.execute_script(LABEL_TAGS)
    for x, y, w, h in tags:
        assert min(x, y) >= 0, (x, y, w, h)
        assert x + w <= width + 0.5, (x, y, w, h)
        assert y + h <= height + 0.5, (x, y, w, h)
    for i, (x, y, w, h) in enumerate(tags):
        for a, b, c, d in tags[i + 1 :]:
            assert not (x < a + c and a < x + w and y < b + d and b < y + h), ((x, y, w, h), (a, b, c, d))
    return len(tags)


def console_errors(browser: Any) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
