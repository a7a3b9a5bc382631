"""The GIMP 2.10 procedures' arguments, after image and drawable: (kind, PDB name, label,
default, extra). Generated from the wire contract by `python3 -m maskstyle_wire.bridge
--gimpfu-args`; do not edit (a test checks that it is up to date)."""

CONTRACT_VERSION = 2

ARGUMENTS = {
    'plug-in-maskstyle-stylize-selection': [
        ('file', 'style-file', 'Style image', '', None),
        ('slider', 'strength', 'Strength', 1.0, (0.0, 1.0, 0.01)),
        ('radio', 'quality', 'Quality', 'balanced', (('Fast', 'fast'), ('Balanced', 'balanced'), ('Best', 'best'))),
        ('toggle', 'preserve-color', 'Preserve colors', False, None),
        ('spinner', 'seed', 'Seed', 0, (0, 2147483647, 1)),
        ('radio', 'seam', 'Seam', 'none', (('As selected', 'none'), ('Feather', 'feather'), ('Graph cut', 'graphcut'))),
        ('radio', 'method', 'Method', 'patch', (('Patch synthesis', 'patch'), ('Neural (Gatys et al. 2016)', 'neural'))),
    ],
    'plug-in-maskstyle-stylize-regions': [
        ('channel', 'channel-1', 'Region 1: channel', None, None),
        ('file', 'style-file-1', 'Region 1: style image', '', None),
        ('channel', 'channel-2', 'Region 2: channel', None, None),
        ('file', 'style-file-2', 'Region 2: style image', '', None),
        ('channel', 'channel-3', 'Region 3: channel', None, None),
        ('file', 'style-file-3', 'Region 3: style image', '', None),
        ('file', 'rest-file', 'Style for the rest (optional)', '', None),
        ('slider', 'strength', 'Strength', 1.0, (0.0, 1.0, 0.01)),
        ('radio', 'quality', 'Quality', 'balanced', (('Fast', 'fast'), ('Balanced', 'balanced'), ('Best', 'best'))),
        ('toggle', 'preserve-color', 'Preserve colors', False, None),
        ('spinner', 'seed', 'Seed', 0, (0, 2147483647, 1)),
        ('radio', 'seam', 'Seam', 'none', (('As selected', 'none'), ('Feather', 'feather'), ('Graph cut', 'graphcut'))),
        ('radio', 'method', 'Method', 'patch', (('Patch synthesis', 'patch'), ('Neural (Gatys et al. 2016)', 'neural'))),
    ],
    'plug-in-maskstyle-harmonize-layer': [
        ('radio', 'mode', 'Mode', 'photo', (('Photo', 'photo'), ('Painterly', 'painterly'))),
        ('slider', 'strength', 'Strength', 1.0, (0.0, 1.0, 0.01)),
    ],
    'plug-in-maskstyle-portrait-blur': [
        ('slider', 'radius', 'Radius (0: from the image size)', 0.0, (0.0, 200.0, 1.0)),
    ],
    'plug-in-maskstyle-select-subject': [
        ('radio', 'target', 'Target', 'subject', (('Main subject', 'subject'), ('Person', 'person'), ('Refine selection', 'refine'))),
        ('radio', 'operation', 'Operation', 'replace', (('Replace', 'replace'), ('Add', 'add'), ('Subtract', 'subtract'), ('Intersect', 'intersect'))),
    ],
}
