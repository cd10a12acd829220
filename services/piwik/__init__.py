"""piwik: Web-server logs on S3 -> Matomo bulk tracking API and the warehouse."""
