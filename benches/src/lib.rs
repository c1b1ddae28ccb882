//! Criterion benchmarks live in `benches/` (issue "Fuzz targets and criterion benchmarks").
