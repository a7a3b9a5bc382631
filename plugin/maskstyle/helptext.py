"""Each procedure's help page: what the Help button in its dialog shows, and its help text in
GIMP's procedure browser. docs/gimp.md is the same text (tests check that they agree)."""

from html import escape

START_BACKEND = ("If it says the maskstyle backend is not running: run the maskstyle installer again, "
                 "which sets the backend up to start by itself, or start it yourself in a terminal "
                 "with `maskstyle serve`.")

PAGES = {
    "plug-in-maskstyle-stylize-selection": {
        "title": "Stylize Selection",
        "menu": "Filters > Maskstyle > Stylize Selection…",
        "what": "Repaints the selected part of the active layer in the style of a painting or texture. "
                "The result is a new layer directly above, masked by the selection, so the original "
                "stays as it was; one Ctrl+Z removes it.",
        "steps": ["Select the area to restyle (a soft or feathered selection gives a soft edge).",
                  "Choose the painting in Style image (or one of the Recent styles).",
                  "Press OK. The status bar shows what is happening and the time left; Cancel stops it."],
        "fields": [("Style image", "The painting or texture whose brush marks and colours to use."),
                   ("Strength", "1 restyles fully; 0.5 half-way between the original and the style."),
                   ("Quality", "Fast for trying things out, Best for the final picture (slower)."),
                   ("Preserve colors", "Keep the photo's colours and take only the style's marks."),
                   ("Seed", "Another number gives another variation; the same number, the same result."),
                   ("Seam", "How the result meets the original at the edge of the selection: as "
                            "selected, feathered, or along a cut where the two differ least."),
                   ("Method", "Patch (the default) copies the painting's own marks; Neural is slower "
                              "and smoother.")],
        "notes": ["With several layers selected, each gets its own stylized layer.",
                  "Run it again right away (Filters > Re-Show) to try another seed: it works on the "
                  "new layer, and the dialog keeps your last settings even when a run failed."],
    },
    "plug-in-maskstyle-stylize-regions": {
        "title": "Stylize Regions",
        "menu": "Filters > Maskstyle > Stylize Regions…",
        "what": "Restyles several parts of the layer at once, each in its own style. Each region is a "
                "channel: a selection saved with Select > Save to Channel. The results come as a layer "
                "group, \u201cStylized regions\u201d, with one masked layer per region.",
        "steps": ["Select the first area and use Select > Save to Channel; do the same for each area.",
                  "In the dialog, choose Region 1: channel and Region 1: style image, and so on.",
                  "Optionally choose a Style for the rest, for everything no region covers.",
                  "Press OK."],
        "fields": [("Region N: channel", "A saved selection (Select > Save to Channel)."),
                   ("Region N: style image", "The style for that region. Leave both of a region empty "
                                            "to skip it."),
                   ("Style for the rest", "Optional: a style for what no region covers; without it "
                                          "that part stays as it is."),
                   ("Strength, Quality, Preserve colors, Seed, Seam, Method", "As in Stylize Selection.")],
        "notes": ["The regions may overlap; where they do, both layers share the edge."],
    },
    "plug-in-maskstyle-harmonize-layer": {
        "title": "Harmonize Layer",
        "menu": "Layer > Maskstyle > Harmonize Layer… (also Filters > Maskstyle)",
        "what": "Makes a pasted object fit the picture under it: its colour and tone (Photo), or its "
                "brush marks too (Painterly). The result is a copy of the layer directly above it, with "
                "the same place and transparency.",
        "steps": ["Paste the object as its own layer, with transparency around it, and place it.",
                  "Keep that layer active and choose Harmonize Layer.", "Press OK."],
        "fields": [("Mode", "Photo matches colour and tone; Painterly also matches a painting's marks."),
                   ("Strength", "How strongly to match the surroundings.")],
        "notes": ["The layer must be visible and not fully transparent."],
    },
    "plug-in-maskstyle-portrait-blur": {
        "title": "Portrait Blur",
        "menu": "Filters > Maskstyle > Portrait Blur…",
        "what": "Blurs the background like a camera lens while the selected subject stays sharp. The "
                "result is a new layer, \u201cPortrait blur\u201d, directly above the layer.",
        "steps": ["Select the subject (Select > Maskstyle > Select Subject… can do it).",
                  "Choose Portrait Blur and set the Radius.", "Press OK."],
        "fields": [("Radius", "How far the background is blurred, in pixels. The dialog starts with "
                              "the radius that suits this image (about 1.2% of its longest side).")],
        "notes": ["Select only the subject: there must be a background left to blur."],
    },
    "plug-in-maskstyle-select-subject": {
        "title": "Select Subject",
        "menu": "Select > Maskstyle > Select Subject…",
        "what": "Selects the main subject or a person in the visible image, or tidies a rough selection "
                "you made around the subject.",
        "steps": ["For Refine, first select roughly around the subject.",
                  "Choose the Target and how to combine with the current selection.", "Press OK."],
        "fields": [("Target", "Subject: the main subject. Person: people (needs the person model). "
                              "Refine: improve the current selection."),
                   ("Selection mode", "Replace, add to, subtract from or intersect with the current "
                                      "selection.")],
        "notes": ["It looks at the whole visible image, whatever layer is active."],
    },
}


def text(name):
    """The page as plain text (GIMP's procedure browser shows it as the procedure's help)."""
    page = PAGES[name]
    lines = [page["what"], "", "How to use it:"]
    lines += [f"{i}. {step}" for i, step in enumerate(page["steps"], 1)]
    lines += ["", "Settings:"] + [f"- {field}: {about}" for field, about in page["fields"]]
    lines += [""] + page["notes"] + [START_BACKEND]
    return "\n".join(lines)


def markup(name):
    """The page as Pango markup, for the Help window."""
    page = PAGES[name]
    parts = [f"<big><b>{escape(page['title'])}</b></big>", f"<i>{escape(page['menu'])}</i>", "",
             escape(page["what"]), "", "<b>How to use it</b>"]
    parts += [f"{i}. {escape(step)}" for i, step in enumerate(page["steps"], 1)]
    parts += ["", "<b>Settings</b>"] + [f"<b>{escape(field)}</b>: {escape(about)}" for field, about in page["fields"]]
    parts += ["", "<b>Good to know</b>"] + [f"• {escape(note)}" for note in page["notes"] + [START_BACKEND]]
    return "\n".join(parts)


def markdown():
    """All pages as Markdown: docs/gimp.md."""
    out = ["# maskstyle in GIMP", "",
           "What each maskstyle command does, and how to use it. The Help button in each dialog shows "
           "the same page.", ""]
    for name, page in PAGES.items():
        out += [f"## {page['title']}", "", f"*{page['menu']}* (`{name}`)", "", page["what"], "", "How to use it:", ""]
        out += [f"{i}. {step}" for i, step in enumerate(page["steps"], 1)]
        out += ["", "Settings:", ""] + [f"- **{field}**: {about}" for field, about in page["fields"]]
        out += [""] + [f"- {note}" for note in page["notes"]] + [""]
    out += ["## When something goes wrong", "", START_BACKEND, ""]
    return "\n".join(out)
