"""Template tags for the console's shared components (loaded as builtins in every template)."""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()

SEVERITY_LABELS = {
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "informational": "Informational",
}


@register.simple_tag
def icon(name: str, label: str = "") -> str:
    """A Fluent UI icon from the sprite built at set-up time (scripts/build_assets.py)."""
    href = f"{static('vendor/icons.svg')}#{name}"
    if label:
        return format_html(
            '<svg class="icon" role="img" aria-label="{}"><use href="{}"></use></svg>', label, href
        )
    return format_html('<svg class="icon" aria-hidden="true"><use href="{}"></use></svg>', href)


@register.simple_tag
def severity(value: str) -> str:
    """Severity shown by colour and word, never colour alone."""
    return format_html(
        '<span class="severity severity-{}"><span class="severity-dot"></span>{}</span>',
        value,
        SEVERITY_LABELS.get(value, value.title()),
    )


@register.simple_tag
def status_pill(value: str, label: str = "") -> str:
    return format_html(
        '<span class="pill pill-{}">{}</span>', value, label or value.replace("_", " ").capitalize()
    )


@register.inclusion_tag("components/sort_header.html", takes_context=True)
def sort_header(context, label: str, field: str, numeric: bool = False) -> dict:
    """A sortable column header: ?sort=field ascending, ?sort=-field descending.

    ``numeric=True`` right-aligns the header for a column of figures; give its cells
    ``class="numeric"`` too so the figures line up under it in tabular digits."""
    request = context["request"]
    current = request.GET.get("sort", context.get("default_sort", ""))
    if current == field:
        direction, next_sort = "ascending", f"-{field}"
    elif current == f"-{field}":
        direction, next_sort = "descending", field
    else:
        direction, next_sort = "none", field
    params = request.GET.copy()
    params["sort"] = next_sort
    params.pop("cursor", None)
    params.pop("page", None)
    return {"label": label, "direction": direction, "query": params.urlencode(), "numeric": numeric}
