"""Code used by two or more forklift services: settings, logging, clients, queues, CLI glue."""
