"""Read side of the dashboards: one module per page (portfolio, team, service), each a set
of named tables computed by a fixed number of aggregated queries, plus what is in flight
for the live refresh (common)."""
