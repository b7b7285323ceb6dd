"""The web pages of mixflow: plain HTML, CSS and JavaScript modules in `static/`, served by the API app.

No build step and no CDN: every file the browser loads comes from this folder (plotly.js from the
installed plotly package), so the pages work offline.
"""
