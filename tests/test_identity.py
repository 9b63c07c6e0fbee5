from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds import identity
from monitor.feeds.canonical import canonical_url
from monitor.feeds.identity import (
    KeyInput,
    assign_keys,
    content_hash,
    normalise_title,
    shared_links,
    story_key,
)
from monitor.model import Item

D1 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_unique_guids_give_guid_keys_independent_of_other_fields() -> None:
    a = assign_keys([KeyInput("id-1", "https://x.com/a", "A"), KeyInput("id-2", None, "B")])
    b = assign_keys([KeyInput("id-1", "https://x.com/changed", "A edited")])
    assert a[0].startswith("g:")
    assert a[1].startswith("g:")
    assert a[0] == b[0]
    assert len(a[0]) == 22


def test_repeated_guid_is_told_apart_not_collapsed() -> None:
    keys = assign_keys(
        [
            KeyInput("0", "https://x.com/a", "A"),
            KeyInput("0", "https://x.com/b", "B"),
            KeyInput("0", None, "C"),
            KeyInput("0", None, "D"),
        ]
    )
    assert len(set(keys)) == 4
    assert all(k.startswith("g:") for k in keys)
    # and each is stable: the same document gives the same keys
    assert keys == assign_keys(
        [
            KeyInput("0", "https://x.com/a", "A"),
            KeyInput("0", "https://x.com/b", "B"),
            KeyInput("0", None, "C"),
            KeyInput("0", None, "D"),
        ]
    )


def test_missing_or_blank_guid_falls_back_to_link() -> None:
    keys = assign_keys([KeyInput(None, "https://x.com/a", "A"), KeyInput("  ", "https://x.com/b")])
    assert keys[0].startswith("u:")
    assert keys[1].startswith("u:")
    assert keys[0] != keys[1]
    assert assign_keys([KeyInput(None, "https://x.com/a", "A, edited")])[0] == keys[0]


def test_guidless_items_sharing_a_link_are_told_apart_by_title() -> None:
    keys = assign_keys(
        [KeyInput(None, "https://x.com/", "First"), KeyInput(None, "https://x.com/", "Second")]
    )
    assert keys[0] != keys[1]
    assert all(k.startswith("u:") for k in keys)


def test_items_with_neither_guid_nor_link_hash_title_and_date() -> None:
    keys = assign_keys(
        [
            KeyInput(None, None, "Troops sent", published=D1),
            KeyInput(None, None, "Troops sent", published=None),
            KeyInput(None, None, "", summary="only a summary"),
            KeyInput(None, None, "  TROOPS   sent ", published=D1),
        ]
    )
    assert all(k.startswith("h:") for k in keys)
    assert keys[0] != keys[1]
    assert keys[0] == keys[3]  # case and spacing do not make a new item
    assert keys[2] != keys[1]


def _item(**fields: Any) -> Item:
    return replace(Item(feed_id="f", key="g:1"), **fields)


def test_story_key_prefers_canonical_url_then_title() -> None:
    by_url = story_key(_item(url="https://x.com/a", title="T"))
    assert by_url == story_key(_item(feed_id="other", key="g:2", url="https://x.com/a", title="U"))
    home = story_key(_item(url="https://x.com/", title="North Korea sends troops"))
    assert home.startswith("t:")  # a home-page link says nothing about the story
    assert home == story_key(_item(url=None, title="north korea  SENDS troops!"))
    assert home != story_key(_item(url=None, title="South Korea sends troops"))
    assert story_key(_item()).startswith("k:")


def test_content_hash_notices_edits_only() -> None:
    base = content_hash(_item(title="A title", summary="Text"))
    assert base == content_hash(_item(title="A  title", summary="Text ", url="https://x/y"))
    assert base != content_hash(_item(title="A title (updated)", summary="Text"))
    assert base != content_hash(_item(title="A title", summary="Text, more"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  Russia's  TROOPS! ", "russia s troops"), ("ＮＡＴＯ", "nato"), ("Straße", "strasse")],
)
def test_normalise_title(text: str, expected: str) -> None:
    assert normalise_title(text) == expected


def test_a_link_several_items_share_is_no_story_key() -> None:
    page = "https://press.example/news"
    a = _item(key="g:1", url=page, title="Minister opens bridge")
    b = _item(key="g:2", url=page, title="Council approves budget")
    article = _item(key="g:3", url="https://press.example/news/7", title="Port reopens")
    twice = _item(key="g:4", url="https://press.example/news/7", title="Port reopens")
    shared = shared_links([a, b, article, twice])
    assert shared == {page}  # one article listed twice names itself still
    assert story_key(a, shared) != story_key(b, shared)
    assert story_key(a, shared) == story_key(_item(url=None, title="Minister opens bridge"))
    assert story_key(article, shared) == story_key(article)
    assert story_key(a) == story_key(b)  # without the document, the link is all there is
    assert shared_links([article]) == frozenset()


def test_guid_and_tracking_link_churn_keep_the_story_key() -> None:
    """Aggregators re-issue items with new GUIDs and new tracking links on every poll."""
    polls = [
        ("urn:poll1:7", "https://www.example.com/world/story-7/?utm_source=rss&utm_medium=feed"),
        ("urn:poll2:93", "https://example.com/world/story-7?fbclid=abc&utm_campaign=x"),
        ("urn:poll3:4", "https://m.example.com/world/story-7/amp/#top"),
    ]
    stories = set()
    keys = set()
    for guid, link in polls:
        url = canonical_url(link)
        (key,) = assign_keys([KeyInput(guid, url, "Story seven")])
        keys.add(key)
        stories.add(story_key(_item(key=key, url=url, title="Story seven")))
    assert len(keys) == 3  # item keys churn with the GUIDs ...
    assert len(stories) == 1  # ... the story key does not


def _home_page_by_urlsplit(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.path in ("", "/") and not parts.query and not parts.fragment


@settings(max_examples=500, deadline=None)
@given(
    st.builds(
        str.__add__,
        st.sampled_from(["http://", "https://", "HTTPS://", "http:/", "ftp://", ""]),
        st.text(alphabet="ab.:/?#[]@%\t\n x", max_size=16),
    )
)
def test_the_home_page_shortcut_agrees_with_urlsplit(url: str) -> None:
    assert identity._is_home_page(url) == _home_page_by_urlsplit(url), url
