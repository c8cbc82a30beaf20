"""curate benchmarks: speed and memory figures written to benchmarks/results and the README table."""
