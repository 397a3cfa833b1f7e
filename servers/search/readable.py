"""HTML to readable plain text, with BeautifulSoup (imported lazily: it costs ~0.1 s)."""

from __future__ import annotations

from typing import Any

__all__ = ["html_to_text"]

_DROP = (
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "head",
    "nav", "footer", "aside", "form",
)  # fmt: skip
_BLOCKS = (
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption", "figure", "header",
    "hr", "li", "main", "ol", "p", "pre", "section", "table", "tr", "ul", "h1", "h2", "h3", "h4", "h5", "h6",
)  # fmt: skip


def html_to_text(data: bytes | str, *, encoding: str | None = None) -> tuple[str | None, str]:
    """`(title, text)` of an HTML document: scripts, styles and page chrome removed, one block per line.

    Headings become `#`-prefixed lines and list items `- ` lines, so the structure survives as light
    Markdown. The main content (`<main>`, else `<article>`) is preferred when the page marks it.
    """
    from bs4 import BeautifulSoup

    if isinstance(data, bytes):
        soup = BeautifulSoup(data, "html.parser", from_encoding=encoding)
    else:
        soup = BeautifulSoup(data, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else None
    for tag in soup.find_all(list(_DROP)):
        tag.decompose()
    root: Any = soup.find("main") or soup.find("article") or soup.body or soup
    for br in root.find_all("br"):
        br.replace_with("\n")
    for cell in root.find_all(["td", "th"]):
        cell.insert_before(" ")
    for tag in root.find_all(list(_BLOCKS)):
        if tag.name == "li":
            tag.insert(0, "- ")
            tag.insert_before("\n")
            continue
        if tag.name[0] == "h" and tag.name[1:].isdigit():
            tag.insert(0, "#" * int(tag.name[1:]) + " ")
        tag.insert_before("\n")
        tag.insert_after("\n")
    return title or None, _tidy(root.get_text())


def _tidy(text: str) -> str:
    """Collapse runs of spaces within lines and of blank lines between them."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()
