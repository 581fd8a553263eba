"""Whether Go's `regexp.Compile` accepts a pattern (pure): Traefik compiles the regular
expressions of a rule with it, and a router whose pattern it refuses is disabled.

Python's `re` is no judge of that: it refuses what Go accepts (`\\pL`, `\\z`, `(?<name>x)`, `^*`,
flags in mid-pattern) and accepts what Go refuses (look-arounds, back references, `\\Z`,
`a{1001}`, a leading `{2}`). So this follows Go's own parser (regexp/syntax, Perl flags, as
Go 1.26 has it) step by step, for its errors only: it builds just enough of a tree to check
repeat counts. Where Go's verdict depends on tables this does not carry (the names of Unicode
scripts in `\\p{...}`), a pattern is accepted: Traefik still judges it, and its API says so.
Iterative, linear in the pattern, so any label value is checked in bounded time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REPEAT = 1000  # Go's maxRepeat: a count, and the product of nested counts
MAX_HEIGHT = 1000  # Go's maxHeight: nesting of the parse tree
_POSIX_CLASSES = frozenset(
    f"[:{sign}{name}:]" for sign in ("", "^") for name in (
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
        "punct", "space", "upper", "word", "xdigit"))
_PERL_CLASSES = frozenset("dDsSwW")
_ONE_LETTER_CATEGORIES = frozenset("CLMNPSZ")
_C_ESCAPES = frozenset("afnrtv")
_FLAGS = frozenset("imsU")


class GoRegexpError(ValueError):
    """Go's error for a pattern, worded as Go words it (`regexp.Compile`)."""

    def __init__(self, code: str, expr: str) -> None:
        super().__init__(f"error parsing regexp: {code}: `{expr}`")
        self.code = code
        self.expr = expr


@dataclass
class _Node:
    """A node of the tree, as far as the checks need it: counted repeats and nesting."""

    repeat: tuple[int, int] | None = None  # (min, max) of x{min,max}; max -1 for x{min,}
    adds_height: bool = False  # a capture or a repetition: always a node of Go's tree
    subs: list[_Node] = field(default_factory=list)


@dataclass
class _Frame:
    """An open group: its finished alternatives and the one being read."""

    alternatives: list[list[_Node]] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)
    capture: bool = False


def regexp_error(pattern: str) -> str | None:
    """Go's error for `pattern`, or None if `regexp.Compile` accepts it."""
    try:
        check(pattern)
    except GoRegexpError as exc:
        return str(exc)
    return None


def check(pattern: str) -> None:
    """Raise GoRegexpError where Go's parser would."""
    _Parser(pattern).run()


def _is_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _repeat_is_valid(node: _Node, n: int) -> bool:
    """Go's repeatIsValid: nested counts multiply, and the product may not pass MAX_REPEAT.
    Only counted repeats of 2 or more get here, so the walk goes at most ~10 deep in them."""
    stack = [(node, n)]
    while stack:
        current, budget = stack.pop()
        if current.repeat is not None:
            low, high = current.repeat
            m = low if high < 0 else high
            if high == 0:
                continue
            if m > budget:
                return False
            if m > 0:
                budget //= m
        stack.extend((sub, budget) for sub in current.subs)
    return True


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.frames = [_Frame()]
        self.height = 0  # captures and repeats open around the current position

    # --- the main loop (Go's parse) ------------------------------------------------------------

    def run(self) -> None:
        s = self.s
        last_repeat = ""
        while self.i < len(s):
            start, c, repeat = self.i, s[self.i], ""
            if c == "(":
                self._open()
            elif c == "|":
                frame = self.frames[-1]
                frame.alternatives.append(frame.items)
                frame.items = []
                self.i += 1
            elif c == ")":
                self._close()
            elif c == "[":
                self._class()
            elif c in "*+?":
                self._repeat(start, start + 1, None, last_repeat)
                repeat = s[start:self.i]
            elif c == "{" and (counted := self._counted(start)) is not None:
                end, low, high = counted
                if low < 0 or low > MAX_REPEAT or high > MAX_REPEAT or 0 <= high < low:
                    raise GoRegexpError("invalid repeat count", s[start:end])
                self._repeat(start, end, (low, high), last_repeat)
                repeat = s[start:self.i]
            elif c == "\\":
                self._backslash()
            else:  # a literal, `.`, `^`, `$` and a `{` that is not a count
                self._push(_Node())
                self.i += 1
            last_repeat = repeat
        if len(self.frames) > 1:
            raise GoRegexpError("missing closing )", s)

    def _push(self, node: _Node) -> None:
        self.frames[-1].items.append(node)

    # --- groups and flags ----------------------------------------------------------------------

    def _open(self) -> None:
        s, i = self.s, self.i
        if not s.startswith("(?", i):
            self._enter(capture=True)
            self.i = i + 1
            return
        rest = s[i:]
        with_p = len(rest) > 4 and rest[2] == "P" and rest[3] == "<"
        if with_p or (len(rest) > 3 and rest[2] == "<"):
            end = rest.find(">")
            if end < 0:
                raise GoRegexpError("invalid named capture", rest)
            name = rest[4 if with_p else 3:end]
            if not name or not all(c == "_" or _is_alnum(c) for c in name):
                raise GoRegexpError("invalid named capture", rest[:end + 1])
            self._enter(capture=True)
            self.i = i + end + 1
            return
        j, sign, saw_flag = i + 2, 1, False
        while j < len(s):
            c = s[j]
            j += 1
            if c in _FLAGS:
                saw_flag = True
            elif c == "-" and sign > 0:
                sign, saw_flag = -1, False
            elif c in ":)" and (sign > 0 or saw_flag):
                if c == ":":
                    self._enter(capture=False)
                self.i = j
                return
            else:
                break
        raise GoRegexpError("invalid or unsupported Perl syntax", s[i:j])

    def _enter(self, capture: bool) -> None:
        self.frames.append(_Frame(capture=capture))
        self.height += capture
        if self.height > MAX_HEIGHT:
            raise GoRegexpError("expression nests too deeply", self.s)

    def _close(self) -> None:
        if len(self.frames) < 2:
            raise GoRegexpError("unexpected )", self.s)
        frame = self.frames.pop()
        self.height -= frame.capture
        subs = [_Node(subs=items) for items in [*frame.alternatives, frame.items]]
        self._push(_Node(adds_height=frame.capture, subs=subs))
        self.i += 1

    # --- repetition ----------------------------------------------------------------------------

    def _counted(self, start: int) -> tuple[int, int, int] | None:
        """Go's parseRepeat: (end, min, max) of `{n}`, `{n,}`, `{n,m}`; None where `{` is a
        literal. A number too big to read is -1, so the count check refuses it."""
        s, j = self.s, start + 1
        low, j = self._int(j)
        if low is None or j >= len(s):
            return None
        if s[j] != ",":
            high: int | None = low
        else:
            j += 1
            if j >= len(s):
                return None
            if s[j] == "}":
                high = -1
            else:
                high, j = self._int(j)
                if high is None:
                    return None
                if high < 0:
                    low = -1
        if j >= len(s) or s[j] != "}" or high is None:
            return None
        return j + 1, low, high

    def _int(self, j: int) -> tuple[int | None, int]:
        """Go's parseInt: digits without a leading zero; -1 when 1e8 or more."""
        s, start = self.s, j
        if j >= len(s) or not ("0" <= s[j] <= "9"):
            return None, j
        if s[j] == "0" and j + 1 < len(s) and "0" <= s[j + 1] <= "9":
            return None, j
        while j < len(s) and "0" <= s[j] <= "9":
            j += 1
        digits = s[start:j]
        return (int(digits) if len(digits) <= 8 else -1), j

    def _repeat(self, start: int, end: int, counts: tuple[int, int] | None,
                last_repeat: str) -> None:
        s = self.s
        if end < len(s) and s[end] == "?":
            end += 1  # non-greedy
        if last_repeat:
            raise GoRegexpError("invalid nested repetition operator", last_repeat + s[start:end])
        items = self.frames[-1].items
        if not items:
            raise GoRegexpError("missing argument to repetition operator", s[start:end])
        node = _Node(repeat=counts, adds_height=True, subs=[items[-1]])
        items[-1] = node
        if counts is not None and max(counts) >= 2 and not _repeat_is_valid(node, MAX_REPEAT):
            raise GoRegexpError("invalid repeat count", s[start:end])
        self.i = end

    # --- escapes -------------------------------------------------------------------------------

    def _backslash(self) -> None:
        s, i = self.s, self.i
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if nxt in ("A", "b", "B", "z"):
            self._push(_Node())
            self.i = i + 2
        elif nxt == "C":
            raise GoRegexpError("invalid escape sequence", "\\C")
        elif nxt == "Q":
            end = s.find("\\E", i + 2)
            literal = s[i + 2:] if end < 0 else s[i + 2:end]
            for _ in literal:
                self._push(_Node())
            self.i = len(s) if end < 0 else end + 2
        elif nxt in ("p", "P"):
            self.i = self._unicode_class(i)
            self._push(_Node())
        elif nxt and nxt in _PERL_CLASSES:
            self._push(_Node())
            self.i = i + 2
        else:
            self.i = self._escape(i)
            self._push(_Node())

    def _unicode_class(self, i: int) -> int:
        """Go's parseUnicodeClass at `\\p`/`\\P`: the index after it. A one-letter name must be
        a general category; a name in braces is taken as Go may know it (scripts, aliases)."""
        s = self.s
        if i + 2 >= len(s):
            raise GoRegexpError("invalid character class range", s[i:])
        if s[i + 2] != "{":
            if s[i + 2].upper() not in _ONE_LETTER_CATEGORIES:
                raise GoRegexpError("invalid character class range", s[i:i + 3])
            return i + 3
        end = s.find("}", i)
        if end < 0:
            raise GoRegexpError("invalid character class range", s[i:])
        name = s[i + 3:end].removeprefix("^")
        if not name or not all(c.isascii() and (c.isalnum() or c in "_- ") for c in name):
            raise GoRegexpError("invalid character class range", s[i:end + 1])
        return end + 1

    def _escape(self, i: int) -> int:
        """Go's parseEscape at a backslash: the index after the escaped character."""
        s = self.s
        if i + 1 >= len(s):
            raise GoRegexpError("trailing backslash at end of expression", "")
        c, j = s[i + 1], i + 2
        if c.isascii() and not c.isalnum():
            return j
        if "1" <= c <= "7" and not (j < len(s) and "0" <= s[j] <= "7"):
            raise GoRegexpError("invalid escape sequence", s[i:j])  # a back reference
        if "0" <= c <= "7":
            for _ in range(2):
                if j < len(s) and "0" <= s[j] <= "7":
                    j += 1
            return j
        if c in _C_ESCAPES:
            return j
        if c == "x":
            return self._hex(i, j)
        raise GoRegexpError("invalid escape sequence", s[i:j])

    def _hex(self, i: int, j: int) -> int:
        """`\\xHH` or `\\x{H...}` (at most U+10FFFF)."""
        s = self.s
        digits = "0123456789abcdefABCDEF"
        if j < len(s) and s[j] == "{":
            end = s.find("}", j)
            inner = s[j + 1:end] if end >= 0 else ""
            if end < 0 or not inner or any(c not in digits for c in inner) \
                    or int(inner, 16) > 0x10FFFF:
                raise GoRegexpError("invalid escape sequence", s[i:end + 1 if end >= 0 else None])
            return end + 1
        if j + 1 < len(s) and s[j] in digits and s[j + 1] in digits:
            return j + 2
        raise GoRegexpError("invalid escape sequence", s[i:j + 2])

    # --- character classes ---------------------------------------------------------------------

    def _class(self) -> None:
        """Go's parseClass: `[...]`, with POSIX, Unicode and Perl classes and ranges."""
        s, whole = self.s, self.s[self.i:]
        j = self.i + 1
        if j < len(s) and s[j] == "^":
            j += 1
        first = True
        while j >= len(s) or s[j] != "]" or first:
            first = False
            if s.startswith("[:", j) and len(s) - j > 2:
                close = s.find(":]", j + 2)
                if close >= 0:
                    if s[j:close + 2] not in _POSIX_CLASSES:
                        raise GoRegexpError("invalid character class range", s[j:close + 2])
                    j = close + 2
                    continue
            if s.startswith(("\\p", "\\P"), j):
                j = self._unicode_class(j)
                continue
            if s.startswith("\\", j) and j + 1 < len(s) and s[j + 1] in _PERL_CLASSES:
                j += 2
                continue
            low, j = self._class_char(j, whole)
            if j + 1 < len(s) and s[j] == "-" and s[j + 1] != "]":
                high, after = self._class_char(j + 1, whole)
                if high < low:
                    raise GoRegexpError("invalid character class range", s[j - 1:after])
                j = after
        self.i = j + 1
        self._push(_Node())

    def _class_char(self, j: int, whole: str) -> tuple[int, int]:
        """One character of a class, escaped or not: (its code point, the index after it)."""
        s = self.s
        if j >= len(s):
            raise GoRegexpError("missing closing ]", whole)
        if s[j] != "\\":
            return ord(s[j]), j + 1
        end = self._escape(j)
        return _escaped_value(s[j:end]), end


def _escaped_value(escape: str) -> int:
    """The code point of an escape `_escape` accepted, for range checks."""
    body = escape[1:]
    if body[0] in "01234567":
        return int(body, 8)
    if body[0] == "x":
        return int(body[1:].strip("{}"), 16)
    return ord({"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}.get(
        body, body))
