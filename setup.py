"""The package layout, which pyproject.toml alone cannot state: the spec catalog stays at the top
of the repository (spec/, edited as data), and ships inside the package as `oomcheck.spec`, so a
wheel has the catalog and its variant files. Everything else is in pyproject.toml.

An editable install maps `oomcheck.spec` to spec/ itself, so edits there are seen at once;
oomcheck/catalog.py finds spec/ either way.
"""

from setuptools import find_packages, setup

setup(
    # spec/variants holds the variant files (loaded by path, never imported); listed as a package
    # so that setuptools ships its .py files
    packages=[*find_packages(include=["oomcheck", "oomcheck.*"]), "oomcheck.spec",
              "oomcheck.spec.variants"],
    package_dir={"oomcheck.spec": "spec"},
    package_data={
        "oomcheck.spec": ["*.toml"],
        "oomcheck.checker.explicit.native": ["runtime.c"],  # read when the native core is built
        "oomcheck.explore": ["static/*"],  # the trace explorer's page
    },
)
