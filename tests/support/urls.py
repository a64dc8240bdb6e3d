"""Every named URL of the site, from the URLconf: tests that must cover every page (bad input, security headers)
read this list, so a page added later is covered without touching them."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from django.urls.exceptions import NoReverseMatch
from hypothesis import strategies as st


def _patterns(patterns: list, namespace: tuple[str, ...] = ()) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, (*namespace, entry.namespace) if entry.namespace else namespace)
        elif entry.name:
            yield ":".join((*namespace, entry.name)), entry


class PathArgument:
    """One argument in a URL's path: junk to draw for it, and a value it surely takes."""

    def __init__(self, junk: st.SearchStrategy[str], example: str) -> None:
        self.junk = junk
        self.example = example


def _named_urls() -> list[tuple[str, dict[str, PathArgument]]]:
    """(URL name, its path arguments) for every named URL; the admin's app pages get real app labels."""
    makers = []
    app_labels = sorted({model._meta.app_label for model in admin.site._registry})
    for name, pattern in _patterns(get_resolver().url_patterns):
        converters = getattr(pattern.pattern, "converters", {})
        arguments: dict[str, PathArgument] = {}
        for argument in pattern.pattern.regex.groupindex:
            if isinstance(converters.get(argument), IntConverter):
                arguments[argument] = PathArgument(st.integers(min_value=0, max_value=10**25).map(str), "1")
            elif argument == "app_label":
                arguments[argument] = PathArgument(st.sampled_from(app_labels), app_labels[0])
            else:
                arguments[argument] = PathArgument(st.one_of(st.integers().map(str), st.text(min_size=1)), "1")
        makers.append((name, arguments))
    return makers


def path_for(url_name: str, arguments: dict[str, PathArgument], values: dict[str, str]) -> str:
    """The URL's path with these values, or with the examples where the pattern cannot hold a value."""
    try:
        return reverse(url_name, kwargs=values)
    except NoReverseMatch:  # a value the pattern refuses (a space in a slug, a made-up app label)
        return reverse(url_name, kwargs={name: argument.example for name, argument in arguments.items()})


URLS = _named_urls()
