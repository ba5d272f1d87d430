"""docs/cli.md is the generated reference of the verbs' declarations, kept up to date."""

from pathlib import Path

from lamina.cli import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current():
    assert DOC.read_text() == reference.render(), "regenerate: python -m lamina.cli.reference > docs/cli.md"


def test_every_verb_and_option_is_in_the_reference():
    from lamina.cli.main import GLOBALS, VERBS, _verb
    from lamina.cli.params import Opt

    text = DOC.read_text()
    for name in VERBS:
        assert f"## `{name}`" in text
        for p in _verb(name).PARAMS:
            if isinstance(p, Opt):
                assert all(f"`{d}`" in text for d in p.decls), (name, p.decls)
    assert all(f"`{p.decls[0]}`" in text for p in GLOBALS)
