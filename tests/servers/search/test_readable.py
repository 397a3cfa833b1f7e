"""HTML to readable text."""

from __future__ import annotations

from variet.servers.search.readable import html_to_text


def test_page_chrome_and_scripts_are_dropped_and_blocks_become_lines() -> None:
    html = """<html><head><title>T</title><script>var x</script></head><body>
    <header>Site name</header><nav>Menu</nav>
    <h2>Part <i>two</i></h2><div>Line one<br>line   two</div><table><tr><th>k</th><td>v</td></tr></table>
    <aside>Ads</aside><footer>(c)</footer></body></html>"""
    assert html_to_text(html) == ("T", "Site name\n\n## Part two\n\nLine one\nline two\n\nk v")


def test_the_main_element_is_preferred_when_present() -> None:
    html = "<body><div>Sidebar junk</div><main><p>Content</p></main></body>"
    assert html_to_text(html) == (None, "Content")


def test_the_meta_charset_is_honoured_for_bytes() -> None:
    html = '<html><head><meta charset="windows-1252"></head><body><p>\x93quoted\x94</p></body></html>'
    assert html_to_text(html.encode("latin-1")) == (None, "\u201cquoted\u201d")
