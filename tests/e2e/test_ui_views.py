"""The audit page's explanation views in Chromium against the real service: one colour
convention with the client and the service, what the model did not see, labels apart, the
explainer's queue. Screenshots under test-output/ui/."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import numpy as np
import pytest
from selenium.webdriver.common.by import By

from tests.e2e.ui_pages import (
    RECORD_STATUS,
    labels_apart_and_inside,
    open_page,
    shot,
    upload_and_predict,
    wait,
)
from tests.helpers import IMAGES
from visionserve_client import colours

pytestmark = pytest.mark.e2e


# The page's colour functions at sample values, to compare with visionserve_client.colours.
PAGE_COLOURS = """
const values = arguments[0];
return [values.map(v => colourOf(v, false)), values.map(v => colourOf(2 * v - 1, true)),
        [0, 1, 127, 128, 129, 255].map(p => fromPng(p, true))];
"""


def test_the_page_colours_maps_as_the_client_and_service_do(service: str, browser: Any) -> None:
    open_page(browser, service)
    values = [i / 20 for i in range(21)]
    unsigned, signed, decoded = browser.execute_script(PAGE_COLOURS, values)
    expected_unsigned = colours.rgba(np.array(values), signed=False).astype(int)
    expected_signed = colours.rgba(np.array(values) * 2 - 1, signed=True).astype(int)
    assert np.abs(np.array(unsigned) - expected_unsigned).max() <= 1
    assert np.abs(np.array(signed) - expected_signed).max() <= 1
    expected = colours.from_png(np.array([0, 1, 127, 128, 129, 255]), signed=True)
    assert np.allclose(decoded, expected)


def test_what_the_classifier_did_not_see_is_hatched_and_the_card_uses_the_width(
    service: str, browser: Any
) -> None:
    open_page(browser, service)
    upload_and_predict(browser, "efficientnet-lite0", IMAGES / "chelsea.png")  # 451x300: a centre crop
    top = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))[0]
    assert re.search(r"probability 0\.\d{3}", top.text)
    top.click()
    ticked = [
        el.get_attribute("value") for el in browser.find_elements(By.CSS_SELECTOR, "#methods input:checked")
    ]
    assert ticked == ["gradcam"]  # one quick, sensible default
    browser.find_element(By.ID, "explain").click()
    card = "#views .view[data-method=gradcam]"
    unseen = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, f"{card} canvas.unseen"), seconds=120)
    heat = browser.find_element(By.CSS_SELECTOR, f"{card} canvas.heat")
    alpha_at = "return arguments[0].getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data[3];"
    # Left edge: outside the crop, hatched or dimmed, and no map colour; the centre: the map, clear.
    assert browser.execute_script(alpha_at, unseen, 2, 150) > 100
    assert browser.execute_script(alpha_at, heat, 2, 150) == 0
    assert browser.execute_script(alpha_at, unseen, 225, 150) == 0
    assert browser.execute_script(alpha_at, heat, 225, 150) == 255
    assert (
        "hatched: outside what the model saw" in browser.find_element(By.CSS_SELECTOR, f"{card} .meta").text
    )
    desc = browser.find_element(By.ID, "target-desc").text
    assert re.search(r"probability 0\.\d{3} · explained score -?\d+\.\d{3} \(the class logit; the "
                     r"probability is its softmax over all classes\)", desc), desc  # fmt: skip
    ratio = browser.execute_script(
        "return document.querySelector(arguments[0]).offsetWidth / document.getElementById('views')"
        ".offsetWidth",
        card,
    )
    assert ratio > 0.9  # one card: the whole row, not a small card beside empty space
    shot(browser, "8-gradcam-not-seen-hatched")


def test_overlapping_detections_get_labels_apart_inside_the_image(service: str, browser: Any) -> None:
    open_page(browser, service)
    upload_and_predict(browser, "yolox-nano", IMAGES / "cat_and_dog.png", threshold="0.2")
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#marks .box")) >= 2)
    assert labels_apart_and_inside(browser) >= 2
    shot(browser, "9-labels-apart")


def test_a_waiting_explanation_says_how_many_are_ahead(service: str, browser: Any) -> None:
    files = [("images", ("d.jpg", (IMAGES / "dog_bike_car.jpg").read_bytes()))]
    # 196 occlusion windows: seconds of work, long enough to queue behind
    busy = {"methods": "occlusion", "patch": "16", "stride": "16", "model": "efficientnet-lite0"}
    started = threading.Event()

    def keep_the_explainer_busy() -> None:
        url = f"{service}/v1/explain/stream"
        with httpx.stream("POST", url, files=files, data=busy, timeout=300) as answer:
            for line in answer.iter_lines():
                if '"occlusion"' in line:
                    started.set()

    open_page(browser, service)
    upload_and_predict(browser, "efficientnet-lite0", IMAGES / "chelsea.png")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))[0].click()
    thread = threading.Thread(target=keep_the_explainer_busy)
    thread.start()
    assert started.wait(120)
    browser.execute_script(RECORD_STATUS)
    browser.find_element(By.ID, "explain").click()
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#views canvas.heat"), seconds=240)
    thread.join(300)
    seen = browser.execute_script("return window.statusSeen")
    assert "gradcam: queued: 1 request ahead" in seen, seen
    shot(browser, "10-after-waiting-in-the-queue")
