"""What a run did, for people: the plain-text `reactor diff` report
(`text.py`), the self-contained HTML report of `replay --report` and
`diff --html` (`html.py`, `charts.py`, the page's template and its vendored
chart library), and the aggregates both read (`tally.py`).

Nothing is imported here, so that `reactor.diff` can use `reactor.report.tally`
without loading the HTML machinery.
"""
