"""Long answers split into Discord-sized parts at natural boundaries, with code blocks that still render."""

from __future__ import annotations

from variet.assistant.splitter import DISCORD_LIMIT, split_message


def test_a_short_answer_is_one_part() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("") == [""]


def test_a_long_answer_splits_at_paragraphs_and_every_part_fits() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 120 for i in range(12)]
    parts = split_message("\n\n".join(paragraphs))
    assert len(parts) > 1
    assert all(len(part) <= DISCORD_LIMIT for part in parts)
    assert all(part.startswith("Paragraph") for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(" ".join(paragraphs).split())


def test_text_without_breaks_is_cut_at_words_then_hard_at_the_limit() -> None:
    words = split_message("lorem " * 1000, limit=100)
    assert all(len(part) <= 100 and not part.startswith(" ") for part in words)
    assert all(set(part.split()) == {"lorem"} for part in words)
    blob = split_message("x" * 250, limit=100)
    assert "".join(blob) == "x" * 250 and all(len(part) <= 100 for part in blob)


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" for i in range(60))
    parts = split_message(f"Here:\n```python\n{code}\n```\nDone.", limit=200)
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 200
        assert part.count("```") % 2 == 0, part
    assert parts[1].startswith("```python\n")
    body = [line for part in parts for line in part.split("\n") if line.startswith("print(")]
    assert body == code.split("\n")
