"""Reading the teacher's documents (Word, OpenDocument, PDF, Excel, PowerPoint, plain text)
as plain blocks.

:mod:`.model` holds what a reader returns (:class:`Document` of :class:`Block`) and what it
raises (:class:`Unreadable`, :class:`TooComplex`); :mod:`.readers` reads one file in this
process (no bound on time or memory: only for files hoso wrote itself or in tests);
:mod:`.sandbox` reads in a worker process (:mod:`.worker`) under memory and time limits, as
everything from the records folder must be read; :mod:`.legacy` converts text typed in the
legacy TCVN3 and VNI fonts. Plugins reach these through :mod:`agent.api`.
"""
