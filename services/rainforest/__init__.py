"""rainforest: Six-second EAGLE energy poller, JSONL logs, hourly rotation to S3, user API."""
