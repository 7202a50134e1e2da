"""Second half of the demo: query every demo run so far with DuckDB, straight off the Parquet
files in the result layout (hive-partitioned by run_id)."""

import duckdb

from sweep_magic.config import load_config

root = load_config().resolve_root(None)
glob = str(root / "results" / "gbm_option" / "*" / "*.parquet")
sql = """
    SELECT strike, sigma, count(*) AS rows, round(avg(price), 4) AS mean_price,
           round(max(std_error), 4) AS max_std_error
    FROM read_parquet(?, hive_partitioning = true)
    WHERE run_id = (SELECT max(run_id) FROM read_parquet(?, hive_partitioning = true))
    GROUP BY strike, sigma ORDER BY strike, sigma
"""
print("\nDuckDB over the latest run's Parquet files:")
print(duckdb.execute(sql, [glob, glob]).df().to_string(index=False))
