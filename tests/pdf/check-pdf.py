#!/usr/bin/env python3
"""Checks that the PDF holds the whole book: every title, every chapter on
its own pages, the first line of every listing, every line of code whole.

    python3 tests/pdf/check-pdf.py [--src DIR] [PDF]

PDF defaults to book/tcp-book.pdf, DIR (the book's sources) to src/.

It reads the book's sources, not the HTML the PDF was printed from, so a
chapter or a listing lost anywhere on the way (mdBook, the print page, the
print stylesheet, Chromium) fails it. From src/SUMMARY.md and the chapters it
expects:

- every part title and chapter title of SUMMARY.md, anywhere (they are the
  PDF's table of contents);
- every chapter's own title, its first `# ` heading, as the first line of a
  page, the chapters in SUMMARY.md's order (each starts a new page);
- for every `{{#include ...}}` and `{{#rustdoc_include ...}}` of a chapter,
  the first non-empty line of what mdBook shows of the included part, on the
  pages of that chapter: with an anchor only the anchored part (for
  rustdoc_include the rest of the file is there but hidden), without the
  marker lines; in a Rust block not the lines mdBook hides (`# ` and the
  like); for an included markdown file, its first line without markdown's
  own signs;
- every line a reader sees in the chapter's code blocks, includes expanded
  as above, whole, on the pages of that chapter. A line cut off at the edge
  of the page would lose its end: Chromium does not print what lies past
  the edge of a box or of the page, so there is no text there to extract.
  (This is also what catches a block that does not print at all, such as a
  solution folded in <details>, which build-pdf.mjs unfolds.)

The text comes from `pdftotext -layout` (poppler-utils), page by page, and
both sides are normalised before comparing:

- all whitespace is removed: the print stylesheet wraps long code lines, so
  one line of a listing can be two lines in the PDF, and pdftotext spaces
  words by their distance on the page;
- -layout, because pdftotext's default reading order "dehyphenates": a line
  that ends in `-` is joined to the next without it, so `--test` broken
  after its first `-` would read `-test`;
- NFKC, which turns ligatures (`ﬁ`) and other compatibility characters back
  into plain letters, should a font have used them;
- curly quotes become straight ones: mdBook's smart-punctuation curls the
  quotes of prose and headings (`Rust's` is shown `Rust’s`) but not of code;
- the page number at the foot of each page is dropped before pages are
  joined, so that a line broken across two pages still matches.

Exits 1 naming everything that is missing; 2 if it cannot run.
"""

import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"

# mdBook's directive pattern: {{#include path}} or {{#rustdoc_include path}},
# with `\{{#` escaping it.
DIRECTIVE = re.compile(r"(\\)?\{\{\s*#(include|rustdoc_include)\s+([^}\s]+)[^}]*\}\}")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
ANCHOR = re.compile(r"ANCHOR:\s*([\w-]+)")
ANCHOR_END = re.compile(r"ANCHOR_END:\s*([\w-]+)")
# mdBook hides a line of a Rust block that starts (after indentation) with
# `#` and then anything but `#`, `!` or `[`; `##` shows as `#`.
HIDDEN = re.compile(r"^\s*#(?![#!\[])")
# How many missing lines of code blocks to name.
LIMIT = 30
QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"'})


def norm(text):
    """The comparable form: NFKC, straight quotes, no whitespace at all."""
    text = unicodedata.normalize("NFKC", text).translate(QUOTES)
    return re.sub(r"\s+", "", text)


def inline_markdown(text):
    """A heading or a line of prose as rendered: links to their text, no
    code spans' backticks, no emphasis stars, no escaping backslashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "").replace("**", "")
    text = re.sub(r"\\(.)", r"\1", text)
    return text.strip()


def summary(path):
    """Part titles and (title, file) of every chapter, in order."""
    parts, chapters = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^#\s+(.+)$", line):
            if m.group(1).strip() != "Summary":
                parts.append(inline_markdown(m.group(1)))
        elif m := re.match(r"^\s*(?:[-*]\s+)?\[(.+)\]\(([^)]+\.md)\)\s*$", line):
            chapters.append((inline_markdown(m.group(1)), m.group(2)))
    return parts, chapters


def anchored(lines, name):
    """What mdBook shows of `path:name`: the lines between the markers, none
    of the marker lines. (rustdoc_include includes the rest of the file
    too, hidden, so what it shows is the same.)"""
    kept, inside = [], False
    for line in lines:
        start, end = ANCHOR.search(line), ANCHOR_END.search(line)
        if not inside:
            inside = bool(start and start.group(1) == name)
        elif end and end.group(1) == name:
            break
        elif not (start or end):
            kept.append(line)
    return kept


def shown_lines(target, selection):
    """The lines of `target` that `{{#include target:selection}}` shows."""
    lines = target.read_text(encoding="utf-8").splitlines()
    if not selection:
        return lines
    parts = selection.split(":")
    if parts[0].isdigit() or (parts[0] == "" and len(parts) > 1):
        start = int(parts[0]) - 1 if parts[0] else 0
        end = int(parts[1]) if len(parts) > 1 and parts[1] else len(lines)
        return lines[start:end]
    return anchored(lines, parts[0])


def first_shown(lines, language):
    """The first non-empty line a reader sees: in a Rust block, hidden
    lines are skipped; in markdown, its signs are."""
    for line in lines:
        if language == "rust" and HIDDEN.match(line):
            continue
        if language == "markdown":
            line = inline_markdown(re.sub(r"^\s*(#+|[-*>]|\d+\.)\s+", "", line))
        if line.strip():
            return line.strip()
    return None


def shown_code_line(line, language):
    """A line of a code block as a reader sees it, or None if mdBook hides it."""
    if language == "rust":
        if HIDDEN.match(line):
            return None
        line = re.sub(r"^(\s*)##", r"\1#", line)
    return line


def chapter_expectations(md_path):
    """The chapter's own title; its listings, as (what, first line); and
    every line a reader sees in its code blocks, includes expanded, as
    (where, line)."""
    title, listings, code = None, [], []
    fence = None  # (fence characters, language, line number) inside a code block
    for number, line in enumerate(md_path.read_text(encoding="utf-8").splitlines(), 1):
        if m := FENCE.match(line):
            if fence is None:
                language = re.split(r"[\s,{]", m.group(2).strip() + " ")[0].lower()
                fence = (m.group(1), language, number)
                continue
            if m.group(1)[0] == fence[0][0] and len(m.group(1)) >= len(fence[0]) and not m.group(2).strip():
                fence = None
                continue
        if fence is None and title is None and (m := re.match(r"^#\s+(.+?)\s*#*\s*$", line)):
            title = inline_markdown(m.group(1))
        shown = []  # this line of markdown, directives expanded
        copied = 0
        for m in DIRECTIVE.finditer(line):
            if m.group(1):
                shown.append(line[copied:m.start()] + m.group(0)[1:])  # \{{#...}}: as written
                copied = m.end()
                continue
            path, _, selection = m.group(3).partition(":")
            target = (md_path.parent / path).resolve()
            what = f"{md_path.name}:{number}: {m.group(0)}"
            if not target.is_file():
                listings.append((what, None))
                continue
            language = fence[1] if fence else "markdown"
            lines = shown_lines(target, selection)
            listings.append((what, first_shown(lines, language)))
            shown.append(line[copied:m.start()] + "\n".join(lines))
            copied = m.end()
        if fence is None:
            continue
        where = f"{md_path.name}:{fence[2]}: the {fence[1] or 'plain'} block"
        for text in ("".join(shown) + line[copied:]).split("\n"):
            text = shown_code_line(text, fence[1])
            if text is not None and text.strip():
                code.append((where, text.strip()))
    return title, listings, code


def pdf_pages(pdf):
    """Each page's text, its page number at the foot removed."""
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
        check=True, capture_output=True, text=True, encoding="utf-8",
    ).stdout
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    cleaned = []
    for number, page in enumerate(pages, 1):
        lines = page.rstrip().splitlines()
        if lines and lines[-1].strip() == str(number):
            lines.pop()
        cleaned.append("\n".join(lines))
    return cleaned


def main():
    args = sys.argv[1:]
    src = SRC
    if args[:1] == ["--src"] and len(args) >= 2:
        src, args = Path(args[1]).resolve(), args[2:]
    pdf = Path(args[0]) if args else REPO / "book" / "tcp-book.pdf"
    if shutil.which("pdftotext") is None:
        print("check-pdf: pdftotext is missing (apt-get install poppler-utils)", file=sys.stderr)
        sys.exit(2)
    if not pdf.is_file():
        print(f"check-pdf: {pdf} is missing; build it with tests/pdf/build-pdf.mjs", file=sys.stderr)
        sys.exit(2)
    pages = [norm(page) for page in pdf_pages(pdf)]
    whole = "".join(pages)
    parts, chapters = summary(src / "SUMMARY.md")

    missing = []
    for part in parts:
        if norm(part) not in whole:
            missing.append(f'SUMMARY.md: part title "{part}" is not in the PDF')
    for title, _ in chapters:
        if norm(title) not in whole:
            missing.append(f'SUMMARY.md: chapter title "{title}" is not in the PDF')

    # Where each chapter starts: the first page, after the previous
    # chapter's, that begins with the chapter's own title.
    expectations = []
    for _, file in chapters:
        expectations.append((file, *chapter_expectations(src / file)))
    starts = []
    after = 0
    for file, title, _, _ in expectations:
        start = None
        if title:
            start = next((i for i in range(after, len(pages)) if pages[i].startswith(norm(title))), None)
        if title is None:
            missing.append(f"{file}: the chapter has no `# ` title")
        elif start is None:
            missing.append(f'{file}: no page after page {after} starts with the chapter\'s title "{title}"')
        else:
            after = start + 1
        starts.append(start)

    listings_checked = code_checked = 0
    cut = []
    for index, (file, title, listings, code) in enumerate(expectations):
        start = starts[index]
        end = next((s for s in starts[index + 1:] if s is not None), len(pages))
        where = "".join(pages[start:end]) if start is not None else whole
        span = f"pages {start + 1}-{end}" if start is not None else "the whole PDF"
        for what, line in listings:
            listings_checked += 1
            if line is None:
                missing.append(f"{what}: the included file is missing or shows no line")
            elif norm(line) not in where:
                missing.append(f'{what}: its first line "{line}" is not on the chapter\'s {span}')
        for block, line in code:
            code_checked += 1
            if norm(line) not in where:
                cut.append(f'{block}: "{line}" is not (whole) on the chapter\'s {span}')
    # A code line cut off at the edge of the page loses the glyphs past the
    # edge (Chromium does not print them), so it shows up here.
    missing.extend(cut[:LIMIT])
    if len(cut) > LIMIT:
        missing.append(f"... and {len(cut) - LIMIT} more lines of code blocks")

    if missing:
        print(f"check-pdf: {pdf}: {len(missing)} problem(s):", file=sys.stderr)
        for item in missing:
            print(f"  {item}", file=sys.stderr)
        sys.exit(1)
    print(f"check-pdf: {pdf}: {len(pages)} pages; {len(parts)} part titles, {len(chapters)} chapters "
          f"each starting a page, the first lines of {listings_checked} listings and "
          f"{code_checked} lines of code blocks: all there")


if __name__ == "__main__":
    main()
