"""Scores under two models in the browser: rust_scaffolding runs scored with the stand-in model
(the manifest's y_s/y_r hold for it) and with another model; the run page says the other
model's scores are not comparable (no y_s/y_r for it) and shows every score's message; the
coordinator is refused bad numbers beside the field, then calibrates the model on the
environment's page; the analyst sees the task as two entries, one per model, never pooled."""

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from sqlmodel import Session

from baselines import checkpoints
from baselines.users import Role
from tests.analytics.conftest import human_run
from tests.browser import sign_in

TASK = "rust_scaffolding/main"
STANDIN, BIG = "model: baseliner-standin", "model: big-model"
Y_S, Y_R = 0.2667, 0.7619  # the manifest's, measured with the stand-in
START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _seed(engine, make_user) -> int:
    """Three runs per model; the big model's scores are valid but not yet normalised. Returns
    one of the big model's runs."""
    experts = [make_user(Role.expert, email=f"e{n}@ex.org") for n in range(6)]
    found = 0
    with Session(engine) as s:
        for n, expert in enumerate(experts):
            big = n % 2 == 1
            solved = [28 + 10 * n, 40 + 8 * n]
            raws = [k / 105 for k in solved]
            scores = [
                (3600.0 * (i + 1), raw, None if big else (raw - Y_S) / (Y_R - Y_S))
                for i, raw in enumerate(raws)
            ]
            run = human_run(s, expert.id, environment=TASK, start=START + timedelta(days=n),
                            hours=3, scores=scores)  # fmt: skip
            condition = BIG if big else STANDIN
            for row, k in zip(checkpoints.log(s, run.id), solved, strict=True):
                row.condition = condition
                row.message = {"solved": f"{k}/105", "outcomes": f"{k} accepted",
                               "condition": condition}  # fmt: skip
                s.add(row)
            run.final_score = max(raws)
            run.final_score_normalized = None if big else (max(raws) - Y_S) / (Y_R - Y_S)
            s.add(run)
            found = run.id if big and not found else found
        s.commit()
    return found


def test_coordinator_calibrates_a_model_and_the_analyst_sees_two_entries(
    page, new_page, shot, live_server, make_user, engine
):
    run_id = _seed(engine, make_user)
    coordinator = make_user(Role.coordinator, email="coord@ex.org")
    sign_in(page, coordinator.email)

    # The run page: each score's message and condition; the other model is not comparable yet.
    page.goto(f"/runs/{run_id}")
    table = page.locator("#checkpoints")
    expect(table).to_contain_text("solved: 48/105; outcomes: 48 accepted")
    expect(table).to_contain_text(BIG)
    expect(table.locator(".not-calibrated").first).to_have_text(
        f"not comparable: no y_s/y_r for {BIG}"
    )
    expect(page.locator("#final-not-comparable")).to_contain_text(f"no y_s/y_r for {BIG}")
    shot("run-page-not-comparable")

    # Bad numbers are refused beside their field, nothing saved.
    page.goto(f"/coordinator/environments/{TASK}")
    section = page.locator("#calibrations")
    expect(section).to_contain_text(f"hold for {STANDIN}")
    expect(section.locator("#no-calibrations")).to_be_visible()
    page.get_by_label("Condition").fill(BIG)
    page.locator("#cal_y_s").fill("0.5")
    page.locator("#cal_y_r").fill("0.5")
    page.get_by_role("button", name="Save calibration").click()
    expect(page.locator("#cal_y_r-error")).to_contain_text("Must differ from y_s")
    expect(page.locator("#cal_y_r")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Condition")).to_have_value(BIG)  # what was typed stays
    shot("calibration-refused")
    page.locator("#cal_y_s").fill("0.4")
    page.locator("#cal_y_r").fill("0.9")
    page.get_by_role("button", name="Save calibration").click()
    expect(page.locator("body")).to_contain_text(f"Saved y_s and y_r for {BIG}")
    expect(page.locator("#calibration-table")).to_contain_text(BIG)
    shot("calibration-saved")

    # The run's scores are normalised now, on the big model's own scale.
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#checkpoints .not-calibrated")).to_have_count(0)
    expect(page.locator("#final-score")).to_be_visible()
    expect(page.locator("body")).to_contain_text("normalised")
    shot("run-page-calibrated")

    # The analyst: one entry per model, labelled with it.
    analyst = make_user(Role.analyst, email="analyst@ex.org")
    other = new_page()
    sign_in(other, analyst.email)
    other.goto("/analyst")
    rows = other.locator("#summary-table tbody tr")
    expect(rows.filter(has_text=f"{TASK} [{STANDIN}]")).to_have_count(1)
    expect(rows.filter(has_text=f"{TASK} [{BIG}]")).to_have_count(1)
    expect(rows.filter(has_text=re.compile(rf"^\s*{re.escape(TASK)}\s+human"))).to_have_count(0)
    other.get_by_label("Task", exact=True).select_option(f"{TASK} [{BIG}]")
    other.get_by_role("button", name="Show").click()
    expect(other.locator("#figure-curve img")).to_be_visible()
    expect(other.locator("#figure-curve img")).to_have_attribute("alt", re.compile(re.escape(BIG)))
    for figure in ("curve", "best-of-k"):
        image = other.locator(f"#figure-{figure} img")
        image.scroll_into_view_if_needed()
        other.wait_for_function(
            "el => el.complete && el.naturalWidth > 0", arg=image.element_handle(), timeout=60_000
        )
    other.locator("#summary-table").scroll_into_view_if_needed()
    shot("analyst-two-entries", on=other)
