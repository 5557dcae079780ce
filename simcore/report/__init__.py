"""Reports of a run: figures, sensitivity indices and policy comparison.

- ``sensitivity``: first-order indices from the drivers table (pure NumPy);
- ``statistics``: Wilson intervals, exceedance curves (pure NumPy);
- ``analysis``: the numbers behind each figure, from a run's tables (pandas);
- ``figures``: matplotlib figures (the optional ``plot`` extra, imported lazily);
- ``html``: the self-contained page;
- ``build``: ``write_report`` (HTML) and ``write_figures`` (PNG files).
"""
