"""The Recent Files row parts a template places with a value from its context (web/row_markup.py builds them)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from webadmit_dash.web import row_markup

register = template.Library()


@register.filter
def run_again_form(run: row_markup.RunAgainTarget, next_path: str) -> SafeString:
    """`{{ file|run_again_form:current_path }}`: Run again's button for a row or the file page's run."""
    return row_markup.run_again_form(run, next_path)
