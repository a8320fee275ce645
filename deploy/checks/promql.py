"""The vector selectors of a PromQL expression, found by a scan rather than a parser: enough to check
that every selector of a dashboard query carries a matcher (dashboards.py), and tested there on every
query, whose parse promtool checks.

Skipped: strings, range and subquery brackets, Grafana variables ($x, ${x}), numbers and durations,
keywords, the label lists of by/without/on/ignoring/group_left/group_right, aggregations and
functions (a name followed by a parenthesis).
"""

import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan", "atan2"}
AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
               "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT = re.compile(r"[a-zA-Z_:][\w:]*")
VARIABLE = re.compile(r"\$(\{[^}]*\}|\w+)")
NUMBER_OR_DURATION = re.compile(r"[\w.]+")
OFFSET = re.compile(r"\s*-?[\w.]+")


def _skip_string(expr, i):
    quote = expr[i]
    i += 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_to(expr, i, close):
    """Index after the `close` that ends the bracket opened at i, strings skipped."""
    opening = expr[i]
    depth = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
            continue
        if c == opening:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def vector_selectors(expr):
    """(start, end, metric name or '', matchers text or None) of each vector selector in expr."""
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "[":
            i = _skip_to(expr, i, "]")
        elif c == "$":  # a Grafana variable
            m = VARIABLE.match(expr, i)
            i = m.end() if m else i + 1
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = NUMBER_OR_DURATION.match(expr, i)
            i = m.end()
        elif c == "{":
            end = _skip_to(expr, i, "}")
            yield i, end, "", expr[i + 1:end - 1]
            i = end
        elif IDENT.match(c):
            m = IDENT.match(expr, i)
            name, j = m.group(), m.end()
            k = j
            while k < n and expr[k].isspace():
                k += 1
            if name.lower() in KEYWORDS:
                if name.lower() in GROUPING and k < n and expr[k] == "(":
                    j = _skip_to(expr, k, ")")
                elif name.lower() == "offset":
                    m2 = OFFSET.match(expr, j)
                    j = m2.end() if m2 else j
                i = j
            elif name in AGGREGATORS or (k < n and expr[k] == "("):
                i = j  # an aggregation or a function
            elif k < n and expr[k] == "{":
                end = _skip_to(expr, k, "}")
                yield i, end, name, expr[k + 1:end - 1]
                i = end
            else:
                yield i, j, name, None
                i = j
        else:
            i += 1
