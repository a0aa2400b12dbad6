"""RE2 regular expressions (the dialect of BigQuery's REGEXP_* functions) on top of Python's re.

translate(pattern) parses an RE2 pattern and returns an equivalent Python pattern, or raises
Re2Error with a message in RE2's words for what RE2 rejects: backreferences (\\1), lookaround
((?=, (?!, (?<=, (?<!), atomic groups, possessive or doubled repetition operators, \\Z,
unknown escapes, repetition counts above 1000, unbalanced parentheses. Python's re would
accept several of these, or read them differently, so nothing is passed through unparsed:

- \\d \\w \\s \\b are ASCII in RE2 (\\s is [\\t\\n\\f\\r ], without \\v); they become explicit classes
  and lookarounds here, whatever Python's Unicode defaults are.
- ^ and $ are text anchors unless (?m) is on (Python's $ also matches before a final newline;
  RE2's does not); \\z is the end of the text; . excludes only \\n unless (?s).
- Flags (?i) (?m) (?s) (?U) may appear anywhere and apply to the rest of the enclosing group,
  as in RE2; they are applied while translating, so the Python pattern needs no global flags.
- { that does not start a valid repetition is a literal (Python would read {,3} as one).
- \\Q...\\E, \\x{10FFFF}, octal escapes, POSIX classes [[:alpha:]] and \\pN / \\p{Lu} (Unicode
  general categories) are supported; \\p{Greek}-style script names and \\C are not (Re2Error
  says so).

Matching then follows RE2's leftmost-first semantics, which Python's backtracking engine
shares. regexp_replace() and extract_all() implement BigQuery's iteration over matches
(an empty match right after the previous match is not replaced; after an empty match the
scan moves one character on).
"""

import re
import sys
import unicodedata

MAX_REPEAT = 1000


class Re2Error(Exception):
    """An RE2 syntax error; str() is BigQuery's message."""

    def __init__(self, what):
        super().__init__("Cannot parse regular expression: %s" % what)
        self.message = str(self)


_WORD = "0-9A-Za-z_"
_ASCII_CLASSES = {  # name -> list of (lo, hi) code point ranges
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
}
_POSIX = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_SIMPLE_ESC = {"a": 0x07, "f": 0x0C, "t": 0x09, "n": 0x0A, "r": 0x0D, "v": 0x0B}
_category_cache = {}


def _complement(ranges):
    out, nxt = [], 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return out


def _category_ranges(name):
    """Code point ranges of a Unicode general category ("L", "Lu", ...) or "Any"."""
    if name == "Any":
        return [(0, sys.maxunicode)]
    if name in _category_cache:
        return _category_cache[name]
    known = {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
             "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk",
             "Sm", "So", "Z", "Zl", "Zp", "Zs"}
    if name not in known:
        raise Re2Error("invalid character class range: \\p{%s} (only Unicode general categories "
                       "are supported by the luxe emulator)" % name)
    ranges, start, prev = [], None, None
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat.startswith(name) if len(name) == 1 else cat == name:
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    _category_cache[name] = ranges
    return ranges


def _esc(cp):
    """A code point as a Python-pattern literal, safe inside and outside classes."""
    ch = chr(cp)
    if ch.isascii() and ch.isalnum():
        return ch
    if cp < 0x100:
        return "\\x%02x" % cp
    if cp < 0x10000:
        return "\\u%04x" % cp
    return "\\U%08x" % cp


def _class(ranges, negate=False, fold=False):
    body = "".join(_esc(lo) if lo == hi else "%s-%s" % (_esc(lo), _esc(hi)) for lo, hi in ranges)
    if not body:
        out = "[^\\x00-\\U0010ffff]" if not negate else "[\\x00-\\U0010ffff]"
    else:
        out = "[%s%s]" % ("^" if negate else "", body)
    return "(?i:%s)" % out if fold else out


_B = "(?:(?<=[%s])(?![%s])|(?<![%s])(?=[%s]))" % ((_WORD,) * 4)
_NB = "(?:(?<=[%s])(?=[%s])|(?<![%s])(?![%s]))" % ((_WORD,) * 4)


class _Parser:
    def __init__(self, pattern):
        self.p = pattern
        self.i = 0
        self.groups = 0

    def peek(self, k=0):
        j = self.i + k
        return self.p[j] if j < len(self.p) else None

    def parse(self):
        out = self.alternation({"i": False, "m": False, "s": False, "U": False}, top=True)
        if self.i < len(self.p):
            raise Re2Error("unexpected ): %s" % self.p)
        return out

    def alternation(self, flags, top=False):
        flags = dict(flags)
        branches = [self.concat(flags)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.concat(flags))
        if self.peek() == ")" and top:
            raise Re2Error("unexpected ): %s" % self.p)
        return "|".join(branches)

    def concat(self, flags):
        """One alternative; (?flags) items update `flags` in place (the rest of the group)."""
        parts = []
        while True:
            c = self.peek()
            if c is None or c in "|)":
                return "".join(parts)
            if c in "*+?":
                raise Re2Error("missing argument to repetition operator: %s" % c)
            if c == "{" and self._repeat_at(self.i):
                raise Re2Error("missing argument to repetition operator: %s" % self._repeat_at(self.i)[0])
            atom, repeatable = self.atom(flags)
            if atom is None:
                continue  # a flag group
            atom = self.quantified(atom, repeatable, flags)
            parts.append(atom)

    def _repeat_at(self, j):
        m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.p, j)
        if not m:
            return None
        return m.group(0), int(m.group(1)), (None if m.group(2) is None else
                                             (int(m.group(3)) if m.group(3) else -1))

    def quantified(self, atom, repeatable, flags):
        seen = False
        first = self.i  # RE2 names the whole run of repetition operators in its error
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                op = c
                self.i += 1
            elif c == "{" and self._repeat_at(self.i):
                text, lo, hi = self._repeat_at(self.i)
                if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT) or \
                        (hi is not None and hi != -1 and hi < lo):
                    raise Re2Error("bad repetition operator: %s" % text)
                self.i += len(text)
                op = "{%d}" % lo if hi is None else "{%d,}" % lo if hi == -1 else "{%d,%d}" % (lo, hi)
            else:
                return atom
            if seen:
                raise Re2Error("bad repetition operator: %s" % self.p[first:self.i])
            if not repeatable:
                raise Re2Error("bad repetition operator: %s" % op)
            lazy = False
            if self.peek() == "?":
                self.i += 1
                lazy = True
            if flags["U"]:
                lazy = not lazy
            atom = "(?:%s)%s%s" % (atom, op, "?" if lazy else "")
            seen = True

    def atom(self, flags):
        c = self.peek()
        if c == "(":
            return self.group(flags)
        self.i += 1
        if c == "[":
            return self.char_class(flags), True
        if c == ".":
            return ("(?s:.)" if flags["s"] else "[^\\n]"), True
        if c == "^":
            return ("(?m:^)" if flags["m"] else "\\A"), False
        if c == "$":
            return ("(?m:$)" if flags["m"] else "\\Z"), False
        if c == "\\":
            return self.escape(flags)
        return self.literal(ord(c), flags), True

    def literal(self, cp, flags):
        ch = chr(cp)
        if flags["i"] and (ch.lower() != ch or ch.upper() != ch):
            return "(?i:%s)" % _esc(cp)
        return _esc(cp)

    def group(self, flags):
        self.i += 1  # (
        if self.peek() == "?":
            rest = self.p[self.i + 1:]
            if rest.startswith(("=", "!", "<=", "<!")):  # lookaround
                raise Re2Error("invalid or unsupported Perl syntax: (?%s" % (rest[:2] if rest[:1] == "<" else rest[:1]))
            if rest[:1] in (">", "#", "|", "("):  # atomic group, comment, branch reset, conditional
                raise Re2Error("invalid or unsupported Perl syntax: (?%s" % rest[:1])
            m = re.match(r"P?<([A-Za-z_][A-Za-z0-9_]*)>", rest)
            if m:
                self.i += 1 + len(m.group(0))
                self.groups += 1
                inner = self.alternation(flags)
                self.close()
                return "(%s)" % inner, True
            m = re.match(r"([imsU]*)(?:-([imsU]*))?([:)])", rest)
            if not m or (m.group(2) is not None and not m.group(2)) or (not m.group(1) and m.group(2) is None
                                                                          and m.group(3) == ")"):
                raise Re2Error("missing argument to repetition operator: ?" if not rest else
                               "invalid or unsupported Perl syntax: (?%s" % rest[:1])
            self.i += 1 + len(m.group(0))
            new = dict(flags)
            for f in m.group(1):
                new[f] = True
            for f in m.group(2) or "":
                new[f] = False
            if m.group(3) == ")":
                flags.update(new)  # applies to the rest of the enclosing group
                return None, False
            inner = self.alternation(new)
            self.close()
            return "(?:%s)" % inner, True
        self.groups += 1
        inner = self.alternation(flags)
        self.close()
        return "(%s)" % inner, True

    def close(self):
        if self.peek() != ")":
            raise Re2Error("missing ): %s" % self.p)
        self.i += 1

    # -- escapes --
    def _escape_cp(self, c, in_class):
        """A single-character escape after the backslash (already consumed c); None if c is
        not one."""
        if c in _SIMPLE_ESC:
            return _SIMPLE_ESC[c]
        if c == "x":
            if self.peek() == "{":
                j = self.p.find("}", self.i)
                digits = self.p[self.i + 1:j] if j > 0 else ""
                if j < 0 or not re.fullmatch(r"[0-9A-Fa-f]{1,8}", digits) or int(digits, 16) > sys.maxunicode:
                    raise Re2Error("invalid escape sequence: \\x%s" % self.p[self.i:j + 1 if j > 0 else None])
                self.i = j + 1
                return int(digits, 16)
            digits = self.p[self.i:self.i + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise Re2Error("invalid escape sequence: \\x%s" % digits)
            self.i += 2
            return int(digits, 16)
        if c in "01234567":
            # RE2: \0 starts an octal escape; \1-\7 only when more octal digits follow
            # (a lone \1 would be a backreference, which RE2 does not have)
            if c != "0" and not (self.peek() or "").isdigit():
                raise Re2Error("invalid escape sequence: \\%s" % c)
            digits = c
            while len(digits) < 3 and self.peek() is not None and self.peek() in "01234567":
                digits += self.peek()
                self.i += 1
            return int(digits, 8)
        if c in "89":
            raise Re2Error("invalid escape sequence: \\%s" % c)
        if not c.isalnum() and c != "_" and ord(c) < 0x80:
            return ord(c)  # escaped punctuation
        return None

    def _prop(self, c):
        if self.peek() == "{":
            j = self.p.find("}", self.i)
            if j < 0:
                raise Re2Error("missing closing }: \\%s" % self.p[self.i - 1:])
            name = self.p[self.i + 1:j]
            self.i = j + 1
        else:
            name = self.peek()
            if name is None:
                raise Re2Error("invalid escape sequence: \\%s" % c)
            self.i += 1
        negate = c == "P"
        if name.startswith("^"):
            name, negate = name[1:], not negate
        ranges = _category_ranges(name)
        return _complement(ranges) if negate else ranges

    def escape(self, flags):
        c = self.peek()
        if c is None:
            raise Re2Error("trailing \\")
        self.i += 1
        if c in "dws":
            return _class(_ASCII_CLASSES[c]), True
        if c in "DWS":
            return _class(_complement(_ASCII_CLASSES[c.lower()])), True
        if c == "b":
            return _B, False
        if c == "B":
            return _NB, False
        if c == "A":
            return "\\A", False
        if c == "z":
            return "\\Z", False
        if c in "pP":
            return _class(self._prop(c), fold=flags["i"]), True
        if c == "Q":
            j = self.p.find("\\E", self.i)
            text = self.p[self.i:] if j < 0 else self.p[self.i:j]
            self.i = len(self.p) if j < 0 else j + 2
            return "".join(self.literal(ord(ch), flags) for ch in text) or "(?:)", bool(text)
        cp = self._escape_cp(c, False)
        if cp is None:
            raise Re2Error("invalid escape sequence: \\%s" % c)
        return self.literal(cp, flags), True

    def char_class(self, flags):
        start = self.i - 1
        negate = False
        if self.peek() == "^":
            negate = True
            self.i += 1
        ranges = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise Re2Error("missing ]: %s" % self.p[start:])
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.peek(1) == ":":
                j = self.p.find(":]", self.i + 2)
                if j > 0:
                    name = self.p[self.i + 2:j]
                    neg = name.startswith("^")
                    if neg:
                        name = name[1:]
                    if name not in _POSIX:
                        raise Re2Error("invalid character class range: [:%s:]" % self.p[self.i + 2:j])
                    ranges.extend(_complement(_POSIX[name]) if neg else _POSIX[name])
                    self.i = j + 2
                    continue
            lo = self.class_char(ranges)
            if lo is None:
                continue  # a class escape such as \d, already added
            if self.peek() == "-" and self.peek(1) not in ("]", None):
                self.i += 1
                hi = self.class_char(None)
                if hi is None or hi < lo:
                    raise Re2Error("invalid character class range: %s" % self.p[start:self.i])
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        return _class(ranges, negate, flags["i"])

    def class_char(self, ranges):
        c = self.peek()
        self.i += 1
        if c != "\\":
            return ord(c)
        e = self.peek()
        if e is None:
            raise Re2Error("trailing \\")
        self.i += 1
        if e in "dwsDWS":
            if ranges is None:
                raise Re2Error("invalid character class range")
            base = _ASCII_CLASSES[e.lower()]
            ranges.extend(base if e.islower() else _complement(base))
            return None
        if e in "pP":
            if ranges is None:
                raise Re2Error("invalid character class range")
            ranges.extend(self._prop(e))
            return None
        cp = self._escape_cp(e, True)
        if cp is None:
            raise Re2Error("invalid escape sequence: \\%s" % e)
        return cp


class Regex:
    """A compiled RE2 pattern: .rx (Python), .groups (capturing groups)."""

    __slots__ = ("rx", "groups", "pattern")

    def __init__(self, pattern):
        p = _Parser(pattern)
        translated = p.parse()
        try:
            self.rx = re.compile(translated)
        except re.error as exc:  # something the translation let through; report it RE2-like
            raise Re2Error("%s: %s" % (exc.msg, pattern)) from None
        self.groups = p.groups
        self.pattern = pattern


_cache = {}


def compile_re2(pattern):
    """A cached Regex for an RE2 pattern (str); raises Re2Error."""
    rx = _cache.get(pattern)
    if rx is None:
        rx = Regex(pattern)
        if len(_cache) > 500:
            _cache.clear()
        _cache[pattern] = rx
    return rx


def check_rewrite(rewrite, groups):
    """Validate a REGEXP_REPLACE replacement; raises ValueError with BigQuery's message."""
    i = 0
    while i < len(rewrite):
        if rewrite[i] == "\\":
            nxt = rewrite[i + 1] if i + 1 < len(rewrite) else ""
            if nxt.isdigit() and nxt.isascii():
                if int(nxt) > groups:
                    raise ValueError("Invalid REGEXP_REPLACE pattern: Rewrite schema requests %d matches, "
                                     "but the regexp only has %d parenthesized subexpressions."
                                     % (int(nxt), groups))
            elif nxt != "\\":
                raise ValueError("Invalid REGEXP_REPLACE pattern: invalid rewrite pattern: %s" % rewrite)
            i += 2
        else:
            i += 1


def _rewrite(rewrite, m):
    out, i = [], 0
    while i < len(rewrite):
        c = rewrite[i]
        if c == "\\" and i + 1 < len(rewrite):
            nxt = rewrite[i + 1]
            out.append("\\" if nxt == "\\" else (m.group(int(nxt)) or ""))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def regexp_replace(rx, s, rewrite):
    """BigQuery's REGEXP_REPLACE: every match replaced, an empty match adjacent to the end of
    the previous match skipped, the scan advancing one character after an empty match."""
    check_rewrite(rewrite, rx.groups)
    out, p, last = [], 0, -1
    n = len(s)
    while p <= n:
        m = rx.rx.search(s, p)
        if m is None:
            out.append(s[p:])
            break
        out.append(s[p:m.start()])
        p = m.start()
        if m.end() > m.start():
            out.append(_rewrite(rewrite, m))
            p = m.end()
        else:
            if m.start() != last:
                out.append(_rewrite(rewrite, m))
            if p < n:
                out.append(s[p])
                p += 1
            else:
                break
        last = m.end()
    return "".join(out)


def extract_all(rx, s):
    """Yield REGEXP_EXTRACT's successive matches (group 1 if the pattern has one, else the
    whole match; None for a group that did not participate)."""
    if rx.groups > 1:
        raise ValueError("Regular expressions passed into extraction functions must not have more "
                         "than 1 capturing group")
    pos, n = 0, len(s)
    while True:
        m = rx.rx.search(s, pos)
        if m is None:
            return
        pos = m.end()
        yield m.group(1) if rx.groups else m.group(0)
        if m.end() == m.start() and pos < n:
            pos += 1
        if pos >= n:
            return
