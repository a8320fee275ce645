"""README.md and docs/: every relative link resolves, every page is indexed, the README stays short.

  python deploy/checks/docs.py

For README.md and every docs/**/*.md page:
- a relative link `[text](path)` or `![alt](path)` names a file or directory that exists;
- a link with an `#anchor` (to another page or to a heading of the same one) names a heading of
  that page, slugged as GitHub slugs them (lower case, punctuation dropped, spaces to hyphens,
  `-1`, `-2`, … for repeated headings);
- links and headings inside code (fenced blocks, `inline spans`) are not links or headings.
Also: README.md is at most 200 lines (issue 31: a newcomer reads it; the rest lives in docs/), and
docs/index.md links every page under docs/ (one line each), so no page is left unfindable.
Links to other sites (http:, https:, mailto:) are not fetched: the check runs offline.
"""

import re
from pathlib import Path

from common import ROOT, Problems, rel

README = ROOT / "README.md"
DOCS = ROOT / "docs"
INDEX = DOCS / "index.md"
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the text may hold one level of brackets ([`x`][y] aside).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(path):
    """(line number, text) of each line outside fenced code blocks, inline code spans blanked."""
    inside = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                yield number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading):
    """GitHub's anchor for a heading's text: markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits and _ (Unicode too, as GitHub)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    seen = {}
    found = set()
    inside = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line):
                inside = not inside
                continue
            match = None if inside else HEADING.match(line)
            if match:
                base = slug(match.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
    return found


def pages():
    return [README, *sorted(DOCS.rglob("*.md"))]


def check_links(problems, page, anchor_cache):
    count = 0
    for number, line in prose_lines(page):
        for match in LINK.finditer(line):
            target = match.group(1)
            if EXTERNAL.match(target):
                continue
            count += 1
            where = f"{rel(page)}:{number}"
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                problems.add(where, f"link to {target}: {rel(dest)} does not exist")
                continue
            if not anchor:
                continue
            if dest.is_dir() or dest.suffix != ".md":
                problems.add(where, f"link to {target}: an #anchor needs a Markdown page, {rel(dest)} is not one")
                continue
            if dest not in anchor_cache:
                anchor_cache[dest] = anchors(dest)
            if anchor not in anchor_cache[dest]:
                problems.add(where, f"link to {target}: {rel(dest)} has no heading with the anchor #{anchor}")
    return count


def check_index(problems):
    if not INDEX.exists():
        problems.add(rel(INDEX), "missing: it lists every page under docs/, one line each")
        return
    linked = set()
    for _, line in prose_lines(INDEX):
        for match in LINK.finditer(line):
            target = match.group(1).partition("#")[0]
            if target and not EXTERNAL.match(target):
                linked.add((INDEX.parent / target).resolve())
    for page in sorted(DOCS.rglob("*.md")):
        if page != INDEX and page.resolve() not in linked:
            problems.add(rel(INDEX), f"does not link {rel(page)}: add one line for it")


def main():
    problems = Problems("docs")
    with open(README, encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    if lines > README_MAX_LINES:
        problems.add(rel(README), f"{lines} lines, more than {README_MAX_LINES}: move detail into a page under docs/")
    anchor_cache = {}
    links = sum(check_links(problems, page, anchor_cache) for page in pages())
    check_index(problems)
    problems.finish(f"{links} relative links in {len(pages())} pages resolve; README.md is {lines} lines "
                    f"(at most {README_MAX_LINES}); docs/index.md links every page")


if __name__ == "__main__":
    main()
