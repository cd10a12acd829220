"""dashboard_api: JSON REST API over the warehouse for the frontend and ops."""
