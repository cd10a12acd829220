"""sync: RDS (source Postgres) -> gzip CSV on S3 -> warehouse, with atomic swap or merge."""
