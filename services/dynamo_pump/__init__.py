"""dynamo_pump: Rate-limited DynamoDB extractor of users and edges into the warehouse."""
