"""The admin of who may see what, beyond one grant at a time: a group's rules ("every PTCAS identity of 2026 - 2027",
read by `core.access` at every request, so identities imported later are covered), and an action on the identity
list that lets a group see the selected identities in one go."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from webadmit_dash.core.models import GroupGrantRule, IdentityGrant, UserIdentity
from webadmit_dash.shared.admin_base import SiteModelAdmin


def rule_matches(rule: GroupGrantRule) -> QuerySet[UserIdentity]:
    """The enabled identities a rule covers now, as `core.access` matches them (case aside, blank for any)."""
    matched = UserIdentity.objects.filter(enabled=True)
    if rule.association:
        matched = matched.filter(association__iexact=rule.association)
    if rule.cycle:
        matched = matched.filter(cycle__iexact=rule.cycle)
    return matched


class GroupGrantRuleForm(forms.ModelForm[GroupGrantRule]):
    class Meta:
        model = GroupGrantRule
        fields = ["group", "association", "cycle"]

    def clean_association(self) -> str:
        return str(self.cleaned_data["association"]).strip()

    def clean_cycle(self) -> str:
        return str(self.cleaned_data["cycle"]).strip()


class GroupGrantRuleInline(admin.TabularInline[GroupGrantRule, Group]):
    model = GroupGrantRule
    form = GroupGrantRuleForm
    extra = 1
    verbose_name = "rule"
    verbose_name_plural = "rules: members see every identity whose association and cycle match (now and later)"


class IdentityGrantToGroupInline(admin.TabularInline[IdentityGrant, Group]):
    model = IdentityGrant
    fields = ["identity"]
    autocomplete_fields = ["identity"]
    extra = 0
    verbose_name = "identity granted one by one"
    verbose_name_plural = "identities granted one by one"


admin.site.unregister(Group)


@admin.register(Group)
class GroupWithAccessAdmin(GroupAdmin):
    """Django's group page, with what its members may see: rules and single grants."""

    inlines = [GroupGrantRuleInline, IdentityGrantToGroupInline]


@admin.register(GroupGrantRule)
class GroupGrantRuleAdmin(SiteModelAdmin):
    form = GroupGrantRuleForm
    list_display = ["group", "association_or_any", "cycle_or_any", "identities_now"]
    list_filter = ["group"]
    list_select_related = ["group"]
    search_fields = ["group__name", "association", "cycle"]
    autocomplete_fields = ["group"]
    readonly_fields = ["identities_now"]

    @admin.display(description="Association", ordering="association")
    def association_or_any(self, rule: GroupGrantRule) -> str:
        return rule.association or "any"

    @admin.display(description="Cycle", ordering="cycle")
    def cycle_or_any(self, rule: GroupGrantRule) -> str:
        return rule.cycle or "any"

    @admin.display(description="Identities it matches now")
    def identities_now(self, rule: GroupGrantRule) -> int:
        return rule_matches(rule).count() if rule.pk else 0


class ChooseGroupForm(forms.Form):
    group = forms.ModelChoiceField(
        Group.objects.order_by("name"),
        label="Group",
        empty_label="Choose a group…",
        error_messages={"required": "Choose the group whose members should see these identities."},
    )


@admin.action(description="Let a group see the selected identities")
def grant_to_group(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[UserIdentity]
) -> HttpResponse | None:
    """An intermediate page chooses the group; its submission (marked `apply`) grants every selected identity to
    it, leaving the grants it already had."""
    identities = list(queryset.select_related("credential"))
    form = ChooseGroupForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        group: Group = form.cleaned_data["group"]
        already = set(
            IdentityGrant.objects.filter(group=group, identity__in=identities).values_list("identity_id", flat=True)
        )
        new = [IdentityGrant(identity=identity, group=group) for identity in identities if identity.pk not in already]
        IdentityGrant.objects.bulk_create(new, ignore_conflicts=True)
        also = f" ({len(already)} of them already could)" if already else ""
        model_admin.message_user(request, f"Members of “{group}” may now see {len(identities)} identities{also}.")
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Let a group see these identities",
        "opts": model_admin.model._meta,
        "identities": identities,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action": "grant_to_group",
        "groups_exist": Group.objects.exists(),
    }
    return TemplateResponse(request, "admin/grant_identities.html", context)
