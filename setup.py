"""Build hook for what pyproject.toml cannot declare: the optional C accelerators.

``formats/_xsdcheck.c`` checks a document against its XSD with libxml2's streaming
reader, without the GIL, so ingest can check on one core while it parses on the other.
It calls the libxml2 that lxml carries (looked up at import) through lxml's headers.

``formats/camt/_extract.c`` reads libxml2's node structures under an lxml element, so it
compiles against the libxml2 headers that lxml ships (``lxml.get_include()``; lxml is a
build requirement). It is optional: where it cannot be built, the pure-Python reader
does the same work, slower (``formats.camt.fastpath.ACCELERATED`` says which is in use).
"""

from setuptools import Extension, setup


def _lxml_include_dirs() -> list[str]:
    try:
        import lxml
    except ImportError:
        return []
    return list(lxml.get_include())


setup(
    ext_modules=[
        Extension(
            "formats.camt._extract",
            ["formats/camt/_extract.c"],
            include_dirs=_lxml_include_dirs(),
            optional=True,
        ),
        Extension(
            "formats._xsdcheck",
            ["formats/_xsdcheck.c"],
            include_dirs=_lxml_include_dirs(),
            libraries=["dl"],
            optional=True,
        ),
    ]
)
