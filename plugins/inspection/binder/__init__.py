"""The print binder (`hoso print`): a period's records as one PDF ready to print and bind.

The records are chosen by the inspection plugin's own selection (selection.py: weeks, a
month or a school year, twins and conflict copies listed with their reason), converted by
LibreOffice headless (convert.py), laid out (layout.py, pure), given a cover, contents,
closing page and footers (pages.py) and put together (assemble.py). service.py runs it.
"""
