"""Uploaders learn what happened (issue 13): their ingest reports by province, and a notification
per ingest outcome. Read side only: the ingest pipeline writes the reports (``functions.ingest``).

``view`` makes the public view of a report, ``query`` pages a province's reports for the API,
``notify`` tells the province's systems through an injected publisher (docs/adr/0087, 0088).
"""
