"""On-device benchmarks: ``edge-sdk bench`` runs each capability on each variant and writes a report."""
