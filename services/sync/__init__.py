"""sync: RDS (source Postgres or MySQL) -> gzip CSV on S3 -> warehouse, with atomic swap or merge."""
