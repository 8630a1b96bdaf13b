"""The audit page in a real headless Chromium against the real service.

Screenshots of each step are kept under test-output/ui/ (VISIONSERVE_TEST_OUTPUT).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.e2e.ui_pages import (
    CANVAS_COLOURS,
    RECORD_REFUSED,
    RECORD_STATUS,
    console_errors,
    labels_apart_and_inside,
    only,
    open_page,
    shot,
    shown_options,
    upload_and_predict,
    wait,
)
from tests.helpers import DOG_BIKE_CAR, IMAGES

pytestmark = pytest.mark.e2e


def test_the_page_is_self_contained_and_open(service: str) -> None:
    page = httpx.get(f"{service}/ui", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from elsewhere
    scripts = re.findall(r'<script src="ui/([a-z_]+\.js)"', page.text)
    assert scripts[-1] == "app.js"
    assert len(scripts) >= 5
    for asset, kind in [*((name, "text/javascript") for name in scripts), ("app.css", "text/css")]:
        answer = httpx.get(f"{service}/ui/{asset}", timeout=30)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(kind)
        assert "http://" not in answer.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in answer.text
    slashed = httpx.get(f"{service}/ui/", timeout=30, follow_redirects=True)
    assert slashed.status_code == 200
    assert str(slashed.url).endswith("/ui")  # relative asset URLs resolve from /ui only
    missing = httpx.get(f"{service}/ui/../config.yaml", timeout=30)
    assert missing.status_code == 404
    assert httpx.get(f"{service}/ui/secrets.txt", timeout=30).json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("page", "title", "operation"),
    [("/docs", ".swagger-ui .info .title", ".swagger-ui .opblock"), ("/redoc", "h1", "[data-section-id]")],
)
def test_the_api_docs_render_from_the_services_own_files(
    service: str, browser: Any, page: str, title: str, operation: str
) -> None:
    """No internet here: a page that fetched its library from a CDN would stay blank. What the
    libraries still link from elsewhere (ReDoc's logo) the page's policy refuses."""
    policy = httpx.get(f"{service}{page}", timeout=30).headers["content-security-policy"]
    assert "default-src 'none'" in policy
    listen = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_REFUSED})
    try:
        browser.get(f"{service}{page}")
        wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, operation)) > 15)
        assert "VisionServe" in browser.find_element(By.CSS_SELECTOR, title).text
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        refused = browser.execute_script("return window.refusedUrls")
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", listen)
    assert any(url.startswith(f"{service}/docs/assets/") for url in loaded), loaded
    elsewhere = {url for url in loaded if not url.startswith(service + "/")}
    assert elsewhere <= set(refused), (elsewhere, refused)
    shot(browser, page.strip("/"))


def test_detect_then_explain_the_dog_box_with_occlusion(service: str, browser: Any, tmp_path: Path) -> None:
    open_page(browser, service)
    upload_and_predict(browser, "yolox-nano", IMAGES / "dog_bike_car.jpg", threshold="0.5")
    boxes = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#marks .box"))
    labels = sorted(box.get_attribute("data-label") for box in boxes)
    assert labels == ["bicycle", "car", "dog"], [box.text for box in boxes]
    drawn = {box.get_attribute("data-label"): box.text for box in boxes}
    assert all(text.startswith(label) for label, text in drawn.items())  # label and score drawn
    assert labels_apart_and_inside(browser) == 3
    version = browser.find_element(By.CSS_SELECTOR, "#prediction-cite dd[data-field=model_version]").text
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert browser.find_element(By.CSS_SELECTOR, "#prediction-cite dd[data-field=request_id]").text
    shot(browser, "1-detections")

    dog = next(box for box in boxes if box.get_attribute("data-label") == "dog")
    dog.click()
    wait(browser, lambda b: b.find_element(By.ID, "explanation").is_displayed())
    assert browser.find_element(By.ID, "target-desc").text.startswith("dog: confidence 0.")
    offered = [el.get_attribute("value") for el in browser.find_elements(By.CSS_SELECTOR, "#methods input")]
    assert offered == ["occlusion", "rise"]  # an ONNX detector: gradient-free methods only
    ticked = [
        el.get_attribute("value") for el in browser.find_elements(By.CSS_SELECTOR, "#methods input:checked")
    ]
    assert ticked == ["occlusion"]  # one method by default: a box's evidence shows best in occlusion
    browser.find_element(By.TAG_NAME, "details").click()
    # Only the options of the methods ticked: never Integrated Gradients' or SmoothGrad's here.
    assert shown_options(browser) == ["opt-patch", "opt-stride", "opt-fidelity"]
    rise = browser.find_element(By.CSS_SELECTOR, "#methods input[value=rise]")
    rise.send_keys(Keys.SPACE)
    assert shown_options(browser) == ["opt-patch", "opt-stride", "opt-masks", "opt-fidelity"]
    rise.send_keys(Keys.SPACE)
    browser.find_element(By.ID, "opt-stride").send_keys("32")  # 169 windows: a few batches, quickly
    browser.execute_script(RECORD_STATUS)
    browser.find_element(By.ID, "explain").click()

    card = "#views .view[data-method=occlusion]"
    heat = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, f"{card} canvas.heat"), seconds=240)
    width, height, colours = browser.execute_script(CANVAS_COLOURS, heat)
    assert (width, height) == (768, 576)  # the map at the original image's size
    assert colours > 20
    seen = browser.execute_script("return window.statusSeen")
    assert any(re.fullmatch(r"occlusion: ([1-9]\d*) / 169 windows", s) for s in seen), seen
    assert re.fullmatch(r"\d+\.\d\d s", browser.find_element(By.CSS_SELECTOR, f"{card} .time").text)
    desc = browser.find_element(By.ID, "target-desc").text
    assert desc.startswith("dog box [")
    x1 = DOG_BIKE_CAR["dog"][0]
    assert abs(int(desc.split("[")[1].split(",")[0]) - x1) < 40
    assert "explained score 1." in desc  # IoU with the chosen box (about 1) + the confidence
    links = browser.find_elements(By.CSS_SELECTOR, f"{card} .downloads a")
    assert [a.text for a in links] == ["overlay PNG", "JSON"]
    assert links[1].get_attribute("href").startswith("blob:")
    scale = browser.find_element(By.CSS_SELECTOR, f"{card} .scale").text
    assert len(scale.split()) == 2  # the colour scale's two ends
    shot(browser, "2-occlusion-of-the-dog")

    # The overlay downloads as a PNG at the image's size: the photo with the map on it.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    links[0].click()
    png = wait(browser, lambda b: next(downloads.glob("*.png"), None), seconds=30)
    assert png.name.endswith("-occlusion.png")
    with Image.open(png) as overlay:
        assert overlay.size == (768, 576)
        photo = np.asarray(Image.open(IMAGES / "dog_bike_car.jpg").convert("RGB"), dtype=float)
        difference = np.abs(np.asarray(overlay.convert("RGB"), dtype=float) - photo).mean()
        assert 2 < difference < 120  # the map is on the photo, and the photo still shows

    # The opacity slider moves the overlay.
    slider = browser.find_element(By.ID, "opacity")
    slider.send_keys(Keys.END)
    assert heat.value_of_css_property("opacity") == "1"

    # A file that is not an image: the API's own message, not a blank page.
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not pixels")
    browser.find_element(By.ID, "file").send_keys(str(notes))
    browser.find_element(By.ID, "predict").click()
    error = wait(
        browser,
        lambda b: b.find_element(By.ID, "error") if b.find_element(By.ID, "error").is_displayed() else None,
    )
    assert error.text.startswith("invalid_image: ")
    assert "request_id: " in error.text
    assert not browser.find_element(By.ID, "prediction").is_displayed()
    shot(browser, "3-not-an-image")
    assert console_errors(browser) == [] or all("400" in e for e in console_errors(browser))


def test_classify_then_gradcam_by_keyboard_on_a_narrow_window(service: str, browser: Any) -> None:
    open_page(browser, service)
    browser.set_window_size(420, 900)
    upload_and_predict(browser, "efficientnet-lite0", IMAGES / "chelsea.png")
    classes = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))
    assert len(classes) == 5
    assert "cat" in classes[0].text.lower()
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    # Keyboard only: focus the top class, choose it, keep only Grad-CAM, explain.
    classes[0].send_keys(Keys.ENTER)
    wait(browser, lambda b: b.find_element(By.ID, "explanation").is_displayed())
    assert classes[0].get_attribute("aria-pressed") == "true"
    only(browser, "gradcam")
    browser.find_element(By.ID, "explain").send_keys(Keys.ENTER)
    card = "#views .view[data-method=gradcam]"
    heat = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, f"{card} canvas.heat"), seconds=120)
    assert browser.execute_script(CANVAS_COLOURS, heat)[2] > 20
    assert "layer _avg_pooling.input" in browser.find_element(By.CSS_SELECTOR, f"{card} .meta").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#views .view")) == 1
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    shot(browser, "4-gradcam-narrow")


def test_segmentation_masks_with_a_legend(service: str, browser: Any) -> None:
    open_page(browser, service)
    upload_and_predict(browser, "selfie-segmentation", IMAGES / "astronaut.png")
    legend = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))
    labels = [item.get_attribute("data-label") for item in legend]
    assert "person" in labels
    assert "% of pixels" in legend[labels.index("person")].text
    masks = browser.find_element(By.ID, "masks")
    width, height, colours = browser.execute_script(CANVAS_COLOURS, masks)
    assert (width, height) == (512, 512)
    assert colours >= 2  # the person's colour and the clear background at least
    toggles = {
        el.get_attribute("aria-label"): el
        for el in browser.find_elements(By.CSS_SELECTOR, "#targets .mask-toggle input")
    }
    # The background would tint most of the photo: its mask starts hidden, the person's shown.
    assert not toggles["show the background mask"].is_selected()
    assert toggles["show the person mask"].is_selected()
    shot(browser, "5-segmentation")
    toggles["show the person mask"].send_keys(Keys.SPACE)  # hidden: nothing left on the canvas
    assert browser.execute_script(CANVAS_COLOURS, masks)[2] == 1
    toggles["show the background mask"].send_keys(Keys.SPACE)
    assert browser.execute_script(CANVAS_COLOURS, masks)[2] >= 2
    shot(browser, "5b-segmentation-background-only")


def test_zero_shot_with_typed_labels_explains_a_text(zoo: str, browser: Any) -> None:
    open_page(browser, zoo)
    Select(browser.find_element(By.ID, "model")).select_by_value("clip")
    labels = browser.find_element(By.ID, "labels")
    labels.clear()
    labels.send_keys("a tabby cat, a red bicycle, an empty street")
    browser.find_element(By.ID, "file").send_keys(str(IMAGES / "chelsea.png"))
    browser.find_element(By.ID, "predict").click()
    scores = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))
    assert sorted(s.get_attribute("data-label") for s in scores) == [
        "a red bicycle",
        "a tabby cat",
        "an empty street",
    ]
    next(s for s in scores if s.get_attribute("data-label") == "a tabby cat").click()
    offered = [el.get_attribute("value") for el in browser.find_elements(By.CSS_SELECTOR, "#methods input")]
    assert "gradcam" in offered
    only(browser, "gradcam")
    browser.find_element(By.ID, "explain").click()
    heat = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#views canvas.heat"), seconds=120)
    assert browser.execute_script(CANVAS_COLOURS, heat)[2] > 20
    desc = browser.find_element(By.ID, "target-desc").text
    assert desc.startswith('"a tabby cat" through the model\'s prompt templates: probability 0.')
    assert "cosine similarity" in desc
    # The explained number is the similarity the prediction showed for that label.
    shown = next(s for s in scores if s.get_attribute("data-label") == "a tabby cat").text
    predicted = float(re.search(r"cosine (-?[\d.]+)", shown).group(1))
    explained = float(re.search(r"explained score (-?[\d.]+)", desc).group(1))
    assert abs(predicted - explained) < 0.002
    shot(browser, "6-zero-shot-text")


def test_a_long_occlusion_shows_progress_and_can_be_cancelled(service: str, browser: Any) -> None:
    open_page(browser, service)
    upload_and_predict(browser, "efficientnet-lite0", IMAGES / "chelsea.png")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))[0].click()
    only(browser, "occlusion")
    browser.find_element(By.TAG_NAME, "details").click()
    browser.find_element(By.ID, "opt-patch").send_keys("8")
    browser.find_element(By.ID, "opt-stride").send_keys("4")  # 3025 windows: tens of seconds here
    browser.find_element(By.ID, "explain").click()
    card = "#views .view[data-method=occlusion]"
    status = browser.find_element(By.CSS_SELECTOR, f"{card} .time")
    wait(browser, lambda b: re.fullmatch(r"[1-9]\d* / 3025 windows", status.text))
    assert browser.find_element(By.CSS_SELECTOR, f"{card} progress").get_attribute("max") == "3025"
    shot(browser, "7-occlusion-in-progress")
    browser.find_element(By.ID, "cancel").click()
    wait(browser, lambda b: status.text == "cancelled", seconds=10)
    assert browser.find_element(By.ID, "explain").is_enabled()
    assert not browser.find_element(By.ID, "error").is_displayed()  # cancelling is not an error
    # The explainer took the next request at once: the cancelled work stopped at its next batch.
    only(browser, "gradcam")
    browser.find_element(By.ID, "explain").click()
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#views canvas.heat"), seconds=15)
