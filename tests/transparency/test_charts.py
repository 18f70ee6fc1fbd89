"""SVG charts: well-formed, labelled for screen readers, escaped, proportional."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from glasshouse.transparency.charts import MAX_LABEL, bar_chart, grouped_bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_grouped_chart_is_accessible_and_proportional() -> None:
    svg = grouped_bar_chart(
        "Denied calls by rule",
        [("2026-01", [("police-moratorium-2020", 4), ("baseline-allow", 1)]), ("2026-02", [])],
        chart_id="c1",
        description="per month",
        empty="No denied calls.",
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.findtext(f"{SVG}title") == "Denied calls by rule"
    assert root.findtext(f"{SVG}desc") == "per month"
    bars = root.findall(f"{SVG}g")
    assert [g.findtext(f"{SVG}title") for g in bars] == [
        "2026-01: police-moratorium-2020: 4",
        "2026-01: baseline-allow: 1",
    ]
    widths = [float(g.find(f"{SVG}rect").get("width", "")) for g in bars]  # type: ignore[union-attr]
    assert widths[0] == 4 * widths[1] > 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert (
        "police-moratorium-2020" in texts
        and "4" in texts
        and "No denied calls." in texts
        and "2026-02" in texts
    )
    colours = {g.find(f"{SVG}rect").get("fill") for g in bars}  # type: ignore[union-attr]
    assert len(colours) == 2


def test_text_is_escaped_and_long_labels_shortened() -> None:
    long = "a-very-long-rule-identifier-that-goes-on-and-on-and-on-and-on"
    svg = bar_chart('<script>"x"</script>', [(long, 2), ("<b>", 0)], chart_id="c2")
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)
    assert root.findtext(f"{SVG}title") == '<script>"x"</script>'
    labels = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(label.endswith("…") and len(label) == MAX_LABEL for label in labels)
    assert [g.findtext(f"{SVG}title") for g in root.findall(f"{SVG}g")] == [f"{long}: 2", "<b>: 0"]


def test_empty_chart_says_so() -> None:
    root = ET.fromstring(grouped_bar_chart("Calls", [], chart_id="c3", empty="Nothing yet."))
    assert "Nothing yet." in [t.text for t in root.iter(f"{SVG}text")]
