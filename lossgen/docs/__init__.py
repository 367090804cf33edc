"""The docs stage: one LaTeX/Markdown section per catalog loss, plots, the catalog PDF.

Reads the spec, derive, rewrite (the lowered forms), analysis and the accuracy
certificate; nothing upstream imports it.  Modules, in the order the data flows:

* ``latex``     SymPy -> the catalog's unambiguous LaTeX
* ``notes``     editorial facts no spec states (NLL of which distribution, typical use)
* ``facts``     one loss's record: formulas with their sources, properties, certificate
* ``structured`` the record of a structured loss: row program, adjoints, chain-rule gradients
* ``plots``     loss and gradient side by side for a few parameter values (matplotlib)
* ``section``   a record -> its LaTeX and Markdown section (Jinja templates)
* ``store``     where the docs live, cache keys, current or stale
* ``catalog``   catalog.tex / catalog.md assembly, pdflatex
* ``pipeline``  ``lossgen docs``: incremental build, and the problems ``lossgen check`` reports
"""
from .pipeline import build_docs, docs_problems

__all__ = ["build_docs", "docs_problems"]
