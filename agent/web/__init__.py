"""The teacher's page: hoso's face, a local web page on 127.0.0.1 (`hoso ui`).

``access`` decides who may use it (ticket → session, Host, CSRF); ``app`` is the Flask
application that dispatches to pages; ``pages`` holds the core's pages and ``templates`` /
``static`` their looks; ``tasks`` runs long work with progress; ``server`` serves it (in the
agent, or for `hoso ui` alone); agent/desktopopen.py hands an address or a file to the desktop.
Plugins add pages through the ``hoso_web_pages`` hook (agent/webpage.py), never importing
this package.
"""
