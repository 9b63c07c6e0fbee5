"""Fast paths for namespaced RSS 2.0, Atom 1.0 and RSS 1.0 (RDF): feedparser's answer, or None.

Pure.

`fastxml` takes only plain RSS 2.0; publishers' feeds declare `atom`, `dc`, `content`, `media`
and their own namespaces, or are Atom. This module reads those by replaying, over a tree that
`xml.etree` (expat, in C) builds, the handlers feedparser's strict parser runs for each element
(feedparser 6.0's `_FeedParserMixin` and its namespace classes), for the fields `parse.py` reads:
feed title, link and ttl; entry title, summary, content, link, id, author, tags and dates. The
replay keeps feedparser's state where it decides those fields: element depth (a deeper element
does not replace a value), the title depth (`media:title` after a title is ignored), whether an
entry already has content (a second description becomes content), the author's details, the
guid as link, namespace prefixes as feedparser resolves them (an undeclared URI dispatches by
its prefix), its text repairs (Latin-1 mojibake, cp1252) and its HTML guess.

RSS 1.0 and 0.90 (RDF): items beside the channel, `rdf:about` as the id, the version from the
first declared RSS or Atom namespace, as feedparser sets them.

Anything outside that replay declines (None) and feedparser runs: an element feedparser has a
handler for that is not replayed here (itunes, textinput, xhtml content, ...), markup
inside a text element, stray text, `xml:base` below the root element, namespaced attributes
other than `xml:lang`,
content types other than text and HTML, a DOCTYPE, ill-formed XML.
`tests/test_fastfeed.py` holds this to feedparser on every corpus document.

Input is what `parse._parse_xml` hands feedparser (see `fastxml`): UTF-8, no entity declarations,
at most `prolog.MAX_NODES` elements and attributes. A document nested deeper than
`prolog.MAX_DEPTH` or with an element over `prolog.MAX_ATTRIBUTES` declines here, so that
`prolog.check_structure` refuses it on feedparser's path: a hostile document is no cheaper
through this path than through feedparser's.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar

from monitor.feeds import fptables
from monitor.feeds.fastxml import _EPOCH_ORDINAL, _Decline, _rfc822_seconds
from monitor.feeds.prolog import MAX_ATTRIBUTES, MAX_DEPTH

ATOM = "http://www.w3.org/2005/Atom"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ATOM_ROOT = f"{{{ATOM}}}feed"
_RDF_ROOT = f"{{{RDF}}}RDF"
_RDF_ATTRS = {f"{{{RDF}}}about": "rdf:about", f"{{{RDF}}}resource": "rdf:resource"}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")  # feedparser.urls._urifixer
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_LOWERED = frozenset({"rel", "type"})  # attributes whose values feedparser lowercases
_TYPE_ALIASES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
_C1 = re.compile("[\x80-\x9f]")  # the only characters feedparser's cp1252 table changes
# Keys parse.py reads from an entry or the feed, after FeedParserDict's key map: an unknown
# element stored under one of them would change what parse.py sees.
_READ_KEYS = frozenset(
    {
        "title", "title_detail", "link", "ttl", "summary", "summary_detail", "content", "id",
        "author", "tags", "published_parsed", "updated_parsed", "description", "guid",
        "date_parsed", "modified_parsed", "issued_parsed", "description_detail",
    }
)  # fmt: skip
# Elements whose feedparser handlers only touch keys parse.py does not read; taken as leaves.
_HARMLESS_LEAVES = frozenset(
    {
        "language", "rights", "copyright", "subtitle", "tagline", "generator", "webmaster",
        "cloud", "enclosure", "width", "height", "icon", "logo", "info", "created",
        "expirationdate", "dc:language", "dc:rights", "dc:publisher", "dcterms:created",
        "media:thumbnail", "media:credit", "media:rating", "media:restriction", "media:license",
        "media:player", "media:content", "feedburner:browserfriendly",
    }
)  # fmt: skip
_CONTAINERS = frozenset({"media:group", "media:content"})
_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "width", "height"})
_MEDIA_SCHEME = "http://search.yahoo.com/mrss/category_schema"


class _Fp:
    """feedparser's pieces this module must agree with: its tables and small functions, copied
    (`fptables`), so that a document this module takes does not import feedparser."""

    known: ClassVar[dict[str, str]] = fptables.NAMESPACES
    handlers: frozenset[str] = fptables.HANDLERS
    looks_like_html = staticmethod(fptables.looks_like_html)
    cp1252: ClassVar[dict[int, str]] = fptables.CP1252
    urljoin = staticmethod(fptables.urljoin)
    safe_absolute = staticmethod(fptables.make_safe_absolute_uri)


class _Builder(ET.TreeBuilder):
    """A TreeBuilder that also records namespace declarations in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.decls: list[tuple[str, str]] = []

    def start_ns(self, prefix: str, uri: str) -> None:
        self.decls.append((prefix, uri))


def parse_namespaced(utf8: bytes) -> dict[str, Any] | None:
    """feedparser-shaped `{"version", "bozo", "feed", "entries"}` for RSS 2.0 with namespaces,
    Atom 1.0 or RSS 1.0, else None."""
    head = utf8[:4096]
    if b"<!DOCTYPE" in head or b"<!doctype" in head:
        return None
    try:
        builder = _Builder()
        # Safe: check_prolog refused every entity declaration and a DOCTYPE declines above.
        parser = ET.XMLParser(target=builder, encoding="utf-8")  # noqa: S314
        parser.feed(utf8)
        root = parser.close()
        return _Replay(builder.decls).run(root)
    except (_Decline, ET.ParseError, ValueError, UnicodeError, RecursionError):
        return None


class _Replay:
    """feedparser's element handlers, for the elements this module takes."""

    def __init__(self, decls: list[tuple[str, str]]) -> None:
        self.decls = decls
        self.rdf = False
        self.prefixes = _prefixes(decls)
        # tag -> (name, handler, walk), memoised: a feed repeats a few dozen tags
        self.kinds: dict[str, tuple[str, _Handler | None, bool]] = {}
        # Attribute names `_attrs` passes as they are: lowercase, not namespaced, not base/mode.
        self.plain_attrs: set[str] = set()
        # Other attribute names `_attrs` passes, by their lowercase form (`isPermaLink`).
        self.mixed_attrs: dict[str, str] = {}
        self.version = ""
        self.depth = 0
        self.title_depth = -1
        self.in_feed = self.in_entry = self.in_image = self.in_source = self.in_author = False
        self.has_content = False
        self.guid_is_link = False
        self.feed: dict[str, Any] = {}
        self.image: dict[str, Any] = {}
        self.source: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.entry: dict[str, Any] = {}  # the open entry (entries[-1])
        self.entry_depths: dict[str, int] = {}  # depth at which each of its keys was stored
        self.root: ET.Element | None = None
        self.base = ""  # the root's xml:base as feedparser keeps it; "" when none

    def run(self, root: ET.Element) -> dict[str, Any]:
        self.root = root
        self.base = _root_base(root.get(_XML_BASE) or "")
        if root.tag == "rss":
            attr = root.get("version", "")
            versions = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
            self.version = versions.get(attr) or ("rss20" if attr.startswith("2.") else "rss")
            if len(root) != 1 or root[0].tag != "channel":
                raise _Decline
        elif root.tag == f"{{{ATOM}}}feed":
            if any(uri.lower() == "http://purl.org/rss/1.0/" for uri in self.prefixes.values()):
                raise _Decline  # would make feedparser call it rss10
            self.version = "atom10"
        elif root.tag == _RDF_ROOT:
            self.version = _rdf_version(self.decls)
            self.rdf = True
            if not self.version:
                raise _Decline
        else:
            raise _Decline
        self._attrs(root)
        if (root.text or "").strip():
            raise _Decline
        self.depth = 1
        if root.tag == "rss":
            self._children(root)  # its one child, the channel
        elif root.tag == _RDF_ROOT:
            self._children(root)  # channel, image and items are siblings
        else:
            self._container(root, self._feed_attrs)
        return {"version": self.version, "bozo": 0, "feed": self.feed, "entries": self.entries}

    # -- dispatch ---------------------------------------------------------------------------

    def _name(self, tag: str) -> str:
        """The element name feedparser dispatches on: `prefix:local` or `local`, lowercased."""
        if tag[0] != "{":
            return tag.lower()
        uri, local = tag[1:].split("}", 1)
        lower = uri.lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        prefix = _Fp.known.get(lower)
        if prefix is None:
            prefix = self.prefixes.get(uri)  # feedparser takes the first prefix declared for it
            if prefix is None:
                raise _Decline
        return f"{prefix}:{local.lower()}" if prefix else local.lower()

    def _kind(self, tag: object) -> tuple[str, _Handler | None, bool]:
        """What the walk does with an element of this tag: its name, its handler (None: not
        one feedparser reads into a field parse.py reads), and whether it may have children
        (walked) when it has no handler. Declines for an element not replayed."""
        if not isinstance(tag, str):
            raise _Decline
        name = self._name(tag)
        handler = _HANDLERS.get(name)
        if handler is not None:
            return name, handler, True
        if name in _HARMLESS_LEAVES:
            return name, None, name in _CONTAINERS
        key = name.replace(":", "_")
        if key in _Fp.handlers or key in _READ_KEYS:
            raise _Decline  # feedparser reads it in a way not replayed here
        # Unknown to feedparser: stored under its own key, which parse.py does not read.
        return name, None, True

    def _children(self, el: ET.Element) -> None:
        """Replay each child of `el` (about a dozen elements an item): one loop per level, the
        per-tag decisions memoised (`_kind`), attributes made into a dict only for elements
        whose handler reads them, and checked by name set for the rest."""
        depth = self.depth + 1
        if depth > MAX_DEPTH and len(el):
            raise _Decline  # prolog.check_structure refuses it on feedparser's path
        kinds = self.kinds
        plain = self.plain_attrs
        mixed = self.mixed_attrs
        in_image = self.in_image  # constant over siblings: _image restores it
        self.depth = depth
        for child in el:
            tag = child.tag
            kind = kinds.get(tag)
            if kind is None:
                kind = kinds[tag] = self._kind(tag)
            name, handler, walk = kind
            tail = child.tail
            if tail and not tail.isspace():
                raise _Decline  # stray text: feedparser adds it to whatever element is open
            if in_image and name not in _IMAGE_CHILDREN:
                raise _Decline  # feedparser leaves the image context here; not replayed
            attrib = child.attrib
            if handler is not None:
                if not attrib:
                    handler(self, child, {})
                elif len(attrib) > MAX_ATTRIBUTES:
                    raise _Decline  # prolog.check_structure refuses it on feedparser's path
                elif attrib.keys() <= plain:
                    attrs = dict(attrib)
                    if "rel" in attrs:
                        attrs["rel"] = attrs["rel"].lower()
                    if "type" in attrs:
                        attrs["type"] = attrs["type"].lower()
                    handler(self, child, attrs)
                elif len(attrib) == 1 and next(iter(attrib)) in mixed:
                    # One attribute whose name _attrs found plain but for its case: no
                    # collision is possible (a guid's isPermaLink).
                    ((key, value),) = attrib.items()
                    key = mixed[key]
                    handler(self, child, {key: value.lower() if key in _LOWERED else value})
                else:
                    handler(self, child, self._attrs(child))
            else:
                if len(attrib) > MAX_ATTRIBUTES:
                    raise _Decline  # however many of its names were seen before
                if attrib and not attrib.keys() <= plain:
                    self._attrs(child)  # declines where feedparser reads them otherwise
                if len(child):
                    if not walk:
                        raise _Decline
                    self._children(child)
        self.depth = depth - 1

    def _container(self, el: ET.Element, start: Callable[[dict[str, str]], None]) -> None:
        start(self._attrs(el))
        self._children(el)

    def _attrs(self, el: ET.Element) -> dict[str, str]:
        """Attributes as feedparser's strict parser passes them: names lowercased, `rel` and
        `type` values lowercased; among namespaced ones only `xml:lang` (ignored),
        `rdf:about` and `rdf:resource`."""
        out: dict[str, str] = {}
        for name, value in el.attrib.items():
            if name[0] == "{":
                if name in _RDF_ATTRS:
                    out[_RDF_ATTRS[name]] = value
                elif name != _XML_LANG and (name != _XML_BASE or el is not self.root):
                    raise _Decline  # xml:base below the root: feedparser's base stack
                continue
            low = name.lower()
            if low in ("base", "mode") or low in out:
                raise _Decline  # `base` sets feedparser's base URI; `mode` may be base64
            out[low] = value.lower() if low in _LOWERED else value
            if low == name:
                self.plain_attrs.add(name)  # no attribute of another case can collide with it
            else:
                self.mixed_attrs[name] = low
        return out

    def _feed_attrs(self, attrs: dict[str, str]) -> None:
        self.in_feed = True

    # -- feedparser's storage rules (mixin.pop) -------------------------------------------

    def _context(self) -> dict[str, Any]:
        if self.in_source:
            return self.source
        if self.in_image:
            return self.image
        if self.in_entry:
            return self.entry
        return self.feed

    def _store(self, element: str, output: str, params: dict[str, str] | None) -> None:
        if element == "title" and -1 < self.title_depth <= self.depth:
            return
        if self.in_entry and not self.in_source:
            entry = self.entry
            if element == "content":
                entry.setdefault("content", []).append({**(params or {}), "value": output})
            elif element == "link":
                if not self.in_image:
                    entry["link"] = (
                        _link_refs(output.replace("&amp;", "&")) if "&" in output else output
                    )
            else:
                if element == "description":
                    element = "summary"
                depths = self.entry_depths
                old = depths.get(element)
                depth = self.depth
                if old is None or depth <= old:
                    depths[element] = depth
                    entry[element] = output
                if params is not None:
                    entry[element + "_detail"] = {**params, "value": output}
        elif self.in_feed or self.in_source:
            context = self._context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                context[element] = _link_refs(output)
            elif params is not None:
                context[element + "_detail"] = {**params, "value": output}

    def _text(self, el: ET.Element) -> str:
        if len(el):
            raise _Decline  # markup inside a text element
        text = el.text
        return text.strip() if text else ""

    def _value(self, el: ET.Element, params: dict[str, str] | None) -> str:
        """`_finish(_text(el), params)` in one call (most fields are ASCII text)."""
        if len(el):
            raise _Decline  # markup inside a text element
        text = el.text
        output = text.strip() if text else ""
        if output.isascii() and (
            params is None or params["type"] != "text/plain" or not ("<" in output or "&" in output)
        ):
            return output  # what _finish gives back unchanged, its params unchanged
        return self._finish(output, params)

    def _finish(self, output: str, params: dict[str, str] | None) -> str:
        """pop's guess and repairs, in its order."""
        if params is None and output.isascii():
            return output
        plain = params is not None and params["type"] == "text/plain"
        # looks_like_html wants a closing tag or an entity reference: without "<" or "&",
        # neither (most titles; its three regex searches cost more than the rest of a title).
        if (
            plain
            and ("<" in output or "&" in output)
            and self.version[:4] != "atom"
            and _Fp.looks_like_html(output)
        ):
            params["type"] = "text/html"  # type: ignore[index]
        if not output.isascii():
            output = _reread_latin1(output)
            if _C1.search(output):
                output = output.translate(_Fp.cp1252)
        return output

    def _resolve(self, uri: str) -> str:
        """feedparser's `resolve_uri` of a link, an href or a guid taken as link."""
        if self.base:
            return _Fp.urljoin(self.base, uri)
        # What urljoin against no base leaves: `_urifixer.sub(r"\1\3", uri)`, which drops the
        # slashes after "scheme://"; re.sub with a template costs several µs, so it runs only
        # where there are slashes to drop.
        if ":///" not in uri:
            return uri  # the pattern's slashes follow the first "://": none to drop
        fix = _URIFIXER.match(uri)
        if fix is None or not fix.group(2):
            return uri
        return fix.group(1) + uri[fix.end() :]

    def _params(self, attrs: dict[str, str], default: str) -> dict[str, str]:
        if "type" not in attrs:
            return {"type": default}  # the callers' defaults are text/plain and text/html
        kind = attrs["type"].lower()
        kind = _TYPE_ALIASES.get(kind, kind)
        if kind not in _TEXT_TYPES:
            raise _Decline  # xhtml (markup), base64 and other types: not replayed
        return {"type": kind}

    # -- handlers -------------------------------------------------------------------------

    def _channel(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if self.in_feed or "href" in attrs or "lastmod" in attrs:
            raise _Decline  # feedparser's CDF reading of these
        self.in_feed = True
        self._children(el)
        self.in_feed = False

    def _item(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if self.in_entry or self.in_image or self.in_source:
            raise _Decline
        if not self.in_feed and not self.rdf:
            raise _Decline  # RSS 1.0 items are the channel's siblings; elsewhere not replayed
        if "href" in attrs or "lastmod" in attrs:
            raise _Decline  # feedparser's CDF reading of these
        self.entry = {}
        self.entry_depths = {}
        self.entries.append(self.entry)
        self.in_entry = True
        self.guid_is_link = False
        self.title_depth = -1
        if attrs.get("rdf:about"):
            self.entry["id"] = attrs["rdf:about"]
        self._children(el)
        self.in_entry = False
        self.has_content = False

    def _title(self, el: ET.Element, attrs: dict[str, str], media: bool = False) -> None:
        saved = self.title_depth
        params = self._params(attrs, "text/plain")
        value = self._value(el, params)
        self._store("title", value, params)
        if value:
            self.title_depth = self.depth
        if media:
            self.title_depth = saved

    def _media_title(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._title(el, attrs, media=True)

    def _description(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if "summary" in self._context() and not self.has_content:
            self._content(el, attrs, "text/plain")
        else:
            params = self._params(attrs, "text/html")
            self._store("description", self._value(el, params), params)

    def _summary(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if "summary" in self._context() and not self.has_content:
            self._content(el, attrs, "text/plain")
        else:
            params = self._params(attrs, "text/plain")
            self._store("summary", self._value(el, params), params)

    def _content(self, el: ET.Element, attrs: dict[str, str], default: str = "text/plain") -> None:
        self.has_content = True
        params = self._params(attrs, default)
        if "src" in attrs:
            params["src"] = attrs["src"]
        value = self._value(el, params)
        self._store("content", value, params)
        self._context().setdefault("summary", value)  # text and HTML content is copied

    def _content_encoded(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._content(el, attrs, "text/html")

    def _link(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if len(el):
            raise _Decline
        if attrs:  # an RSS <link> has none: its text is the link
            rel = attrs.setdefault("rel", "alternate")
            kind = attrs.setdefault(
                "type", "application/atom+xml" if rel == "self" else "text/html"
            )
            hrefs = [attrs[k] for k in ("url", "uri", "href") if k in attrs]
            if hrefs:
                if len(hrefs) > 1 or not hrefs[0]:
                    raise _Decline
                if rel == "alternate" and _map_type(kind) in _HTML_TYPES:
                    self._context()["link"] = self._resolve(hrefs[0])
                return
        value = self._text(el)
        if value:
            value = self._resolve(value)
        self._store("link", self._finish(value, None), None)

    def _guid(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self.guid_is_link = attrs.get("ispermalink", "true") == "true"
        value = self._text(el)
        if value and self.guid_is_link:
            value = self._resolve(value)
        value = self._finish(value, None)
        self._store("id", value, None)
        if self.guid_is_link:
            self._context().setdefault("link", value)

    # feedparser also stores the date's text (`published`, `updated`), which parse.py does not
    # read and nothing here looks at again: not stored.
    def _published(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._context()["published_parsed"] = _date(self._value(el, None))

    def _updated(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._context()["updated_parsed"] = _date(self._value(el, None))

    def _author(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if self.in_author or self.in_image:
            raise _Decline
        context = self._context()
        context.setdefault("authors", []).append({})
        self.in_author = True
        for child in el:
            if not isinstance(child.tag, str) or child.tag.split("}")[-1] not in (
                "name",
                "email",
                "uri",
                "url",
                "homepage",
            ):
                raise _Decline  # its text would join the author's
        self._children(el)
        # The children's tails join the text; the walk declined any that is not whitespace.
        self._store("author", self._finish((el.text or "").strip(), None), None)
        self.in_author = False
        _sync_author(context)

    def _name_or_email(self, el: ET.Element, attrs: dict[str, str]) -> None:
        value = self._text(el)  # popped without feedparser's repairs
        if self.in_author:
            key = "name" if el.tag.split("}")[-1].lower() == "name" else "email"
            self._save_author(key, value)

    def _uri(self, el: ET.Element, attrs: dict[str, str]) -> None:
        value = self._text(el)
        if value:
            value = self._resolve(value)
        value = self._finish(value, None)
        self._store("href", value, None)
        if self.in_author:
            self._save_author("href", value)

    def _save_author(self, key: str, value: str) -> None:
        context = self._context()
        _sync_author(context)
        context.setdefault("authors", [{}])[-1][key] = value

    def _category(self, el: ET.Element, attrs: dict[str, str], media: bool = False) -> None:
        if media:
            attrs.setdefault("scheme", _MEDIA_SCHEME)
        context = self._context()
        scheme = attrs.get("scheme", attrs.get("domain"))
        _add_tag(context, attrs.get("term"), scheme, attrs.get("label"))
        value = self._value(el, None)
        if not value:
            return
        tags = context["tags"]
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(context, value, None, None)

    def _media_category(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._category(el, attrs, media=True)

    def _media_keywords(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if attrs:
            raise _Decline
        value = self._value(el, None)
        self._store("media_keywords", value, None)
        context = self._context()
        for term in value.split(","):
            if term.strip():
                _add_tag(context, term.strip(), None, None)

    def _image(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if self.in_entry or self.in_image or self.in_source:
            raise _Decline  # an item's image writes into the feed's: not replayed
        self.image = {}
        self.in_image = True
        self.title_depth = -1
        self._children(el)
        self.in_image = False

    def _source(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if len(el):
            raise _Decline
        self.title_depth = -1

    def _ttl(self, el: ET.Element, attrs: dict[str, str]) -> None:
        if attrs:
            raise _Decline  # feedparser would store the attributes as the ttl
        value = self._value(el, None)
        if self.in_entry or self.in_image or self.in_source:
            return
        self.feed["ttl"] = value

    def _media_group(self, el: ET.Element, attrs: dict[str, str]) -> None:
        self._children(el)


def _rdf_version(decls: list[tuple[str, str]]) -> str:
    """The version feedparser's namespace tracking gives an RDF document: from the first
    declaration of the RSS 0.90 (default only), RSS 1.0 or Atom namespace; "" when none."""
    for prefix, uri in decls:
        lower = uri.lower()
        if not prefix and lower == "http://my.netscape.com/rdf/simple/0.9/":
            return "rss090"
        if lower == "http://purl.org/rss/1.0/":
            return "rss10"
        if lower == "http://www.w3.org/2005/atom":
            return "atom10"
    return ""


def _reread_latin1(text: str) -> str:
    """feedparser's repair of UTF-8 read as Latin-1: read again as UTF-8, else kept as it is.
    (A try, not contextlib.suppress: a context manager for each field costs more.)"""
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _link_refs(link: str) -> str:
    """feedparser's `&name;` to `&name` in links (`_LINK_REF.sub(r"&\\g<1>", link)`)."""
    # The pattern needs both "&" and ";": most links with a query have no ";" and skip re.sub
    # with a template (several µs).
    return _LINK_REF.sub(r"&\g<1>", link) if "&" in link and ";" in link else link


def _root_base(declared: str) -> str:
    """The base URI feedparser holds for every element under a root with `xml:base` (it starts
    from none: parse.py gives it no URL): the base joined to nothing, which each element below
    keeps only if joining it to itself gives it back; declines otherwise."""
    if not declared:
        return ""
    base = _Fp.urljoin("", declared)
    if base and (_Fp.safe_absolute(base, base) or base) != base:
        raise _Decline
    return base


def _map_type(kind: str) -> str:
    kind = kind.lower()
    return _TYPE_ALIASES.get(kind, kind)


def _sync_author(context: dict[str, Any]) -> None:
    """feedparser's `_sync_author_detail` as far as it changes `author`."""
    authors = context.get("authors") or [{}]
    detail = authors[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name:
            context["author"] = name
        elif email:
            context["author"] = email
    # else feedparser splits an e-mail form into the details only; `author` stays as it is


def _add_tag(context: dict[str, Any], term: Any, scheme: Any, label: Any) -> None:
    tags = context.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


# Dates read, by their text: a feed polled again repeats most of its items' dates. Bounded in
# entries and in the length of what is kept (a real date is about 30 characters); a date is
# kept as its seconds since the epoch and made a struct_time again when read (a struct_time
# and its ints took about 200 bytes, an int 32; gmtime costs about 0.2 µs). Only the plain
# RFC 822 and W3C forms are kept: they are pure functions of the text, while feedparser's
# other handlers fill a missing year, month or day from today's date, which a long-running
# process must not remember.
_DATES: dict[str, int] = {}
_DATES_MAX = 4096
_DATE_KEY_MAX = 64


def _date(value: str) -> Any:
    seconds = _DATES.get(value)
    if seconds is None:
        seconds = _plain_seconds(value)
        if seconds is None:
            # Any other form: feedparser's own reading (imported here, on the first such date).
            from feedparser.datetimes import _parse_date

            return _parse_date(value)
        if len(value) <= _DATE_KEY_MAX:
            if len(_DATES) >= _DATES_MAX:
                _DATES.clear()
            _DATES[value] = seconds
    return time.gmtime(seconds)


def _plain_seconds(value: str) -> int | None:
    """The date in the two forms read here without feedparser, as seconds since the epoch, or
    None for any other."""
    try:
        return _rfc822_seconds(value)
    except (_Decline, ValueError):
        pass
    try:
        return _w3dtf_seconds(value)
    except (_Decline, ValueError):
        return None


_W3DTF = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def _w3dtf_seconds(value: str) -> int:
    """A plain W3C date-time (`2021-05-01T12:30:00Z`, `...+02:00`, fractions of a second) as
    seconds since the epoch, as feedparser's `_parse_date` reads it (its `time.gmtime`): its
    W3DTF handler, first in its list, truncates the fraction and subtracts the offset; anything
    else declines."""
    match = _W3DTF.fullmatch(value)
    if match is None:
        raise _Decline
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if hour > 23 or minute > 59 or second > 59 or not 1900 < year < 9000:
        raise _Decline
    offset = 0
    if match.group(8):
        offset = int(match.group(9)) * 60 + int(match.group(10))
        if match.group(8) == "-":
            offset = -offset
    # date() checks the month and day (ValueError: declines).
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return days * 86400 + hour * 3600 + minute * 60 + second - offset * 60


def _prefixes(decls: list[tuple[str, str]]) -> dict[str, str]:
    """URI to the prefix feedparser's expat path gives its elements when the URI is not one it
    knows: the first non-empty prefix declared for it, else none ("")."""
    seen: dict[str, list[str]] = {}
    bound: dict[str, str] = {}
    canonical = set(_Fp.known.values())
    for prefix, uri in decls:
        if prefix and bound.setdefault(prefix, uri) != uri:
            raise _Decline  # a prefix rebound to another URI: feedparser's maps keep both
        known = _Fp.known.get(uri.lower())
        if known is not None and prefix and prefix != known and prefix in canonical:
            raise _Decline  # feedparser would map that prefix's own elements elsewhere
        seen.setdefault(uri, []).append(prefix)
    # feedparser's expat path names an unknown URI's elements by the first non-empty prefix
    # declared for it, or none; when the default namespace is that URI too, which one depends
    # on the order at that element: left out (no entry: declines).
    out: dict[str, str] = {}
    for uri, prefixes in seen.items():
        named = [p for p in prefixes if p]
        if not named or len(named) == len(prefixes):
            out[uri] = named[0] if named else ""
    return out


_Handler = Callable[[_Replay, ET.Element, dict[str, str]], None]
_HANDLERS: dict[str, _Handler] = {
    "channel": _Replay._channel,
    "item": _Replay._item,
    "entry": _Replay._item,
    "title": _Replay._title,
    "dc:title": _Replay._title,
    "media:title": _Replay._media_title,
    "description": _Replay._description,
    "dc:description": _Replay._description,
    "media:description": _Replay._description,
    "summary": _Replay._summary,
    "content": _Replay._content,
    "content:encoded": _Replay._content_encoded,
    "link": _Replay._link,
    "guid": _Replay._guid,
    "id": _Replay._guid,
    "pubdate": _Replay._published,
    "published": _Replay._published,
    "issued": _Replay._published,
    "dcterms:issued": _Replay._published,
    "updated": _Replay._updated,
    "modified": _Replay._updated,
    "lastbuilddate": _Replay._updated,
    "dc:date": _Replay._updated,
    "dcterms:modified": _Replay._updated,
    "author": _Replay._author,
    "managingeditor": _Replay._author,
    "dc:creator": _Replay._author,
    "dc:author": _Replay._author,
    "name": _Replay._name_or_email,
    "email": _Replay._name_or_email,
    "uri": _Replay._uri,
    "homepage": _Replay._uri,
    "url": _Replay._uri,
    "category": _Replay._category,
    "dc:subject": _Replay._category,
    "media:category": _Replay._media_category,
    "media:keywords": _Replay._media_keywords,
    "image": _Replay._image,
    "source": _Replay._source,
    "ttl": _Replay._ttl,
    "media:group": _Replay._media_group,
}
